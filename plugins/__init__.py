"""teamcal\x27s built-in plugins: each a package loaded through the `teamcal` entry-point group."""
