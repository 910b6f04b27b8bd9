"""One module per ``gradstep`` subcommand: ``configure(parser)`` adds its flags, ``run(args)`` does it."""
