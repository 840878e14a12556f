"""HNY Inc. volunteers bot: Teams edge, commands, delivery engine and domain services."""
