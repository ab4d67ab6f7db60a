"""What plays next: items and the rotation that picks them."""

from app.scheduler.item import Item, ItemKind
from app.scheduler.rotation import Rotation, ShuffleBag

__all__ = ["Item", "ItemKind", "Rotation", "ShuffleBag"]
