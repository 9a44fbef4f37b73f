"""Shell integration templates, shipped inside the wheel as kctx.shell."""
