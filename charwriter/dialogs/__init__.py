"""Modal screens: questions, pickers and the help, each on its own (the writing and training screens push them)."""
