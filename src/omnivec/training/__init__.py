"""SAIL training: losses, the pattern-matched objective, the collator, recipes and the stage runner."""
