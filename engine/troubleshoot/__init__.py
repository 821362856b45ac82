"""What the troubleshooting commands (`engine verify | connections | limits | jobs | new`, in
`engine.cli`) run that is not command-line glue: the step-by-step explanation of a webhook
verification (`explain`), the `.env` reader of `engine serve --env-file` (`envfile`) and the
starting point `engine new` writes (`scaffold`).

The commands open the same store and specs as `engine serve` (from the same ENGINE_*
environment), so what they show is what the running service sees. They never print a token or a
secret value.
"""
