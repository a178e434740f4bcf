"""Sensitive-content detection: personal data and secrets in text about to reach a model."""

from bot.routing.sensitive.detector import (
    DEFAULT_CATEGORIES,
    Category,
    CustomPattern,
    DetectorConfig,
    Finding,
    SensitiveDetector,
)

__all__ = [
    "DEFAULT_CATEGORIES",
    "Category",
    "CustomPattern",
    "DetectorConfig",
    "Finding",
    "SensitiveDetector",
]
