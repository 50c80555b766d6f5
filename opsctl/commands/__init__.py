"""One module per command: a plain function from the parsed options to an exit code.

cli.py parses and calls them; errors they raise become exit codes in cli.py alone.
"""
