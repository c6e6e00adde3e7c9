"""hcx, the Hanoi Convention Exchange."""

__version__ = "0.1.0"
