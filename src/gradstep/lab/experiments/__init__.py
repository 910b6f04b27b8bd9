"""The lab's experiments, one module each (``gradstep.lab.registry()`` imports every public module here).

Each module states one claim of the notes and splits its work in three: ``measure`` (numbers only, into a
small frozen record), ``judge`` (the verdict, its prose and the metrics, from that record) and ``figures``
(typed figure records of :mod:`gradstep.plots`, from that record); ``run`` chains them.
"""
