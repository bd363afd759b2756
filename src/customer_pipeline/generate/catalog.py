"""The product catalog's vocabulary, the stores' hours, the payment mix: data, not code."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Category:
    name: str
    min_price: int  # whole currency units; prices end in .99
    max_price: int
    nouns: tuple[str, ...]
    adjectives: tuple[str, ...]


CATEGORIES: tuple[Category, ...] = (
    Category(
        "Electronics",
        20,
        1000,
        (
            "Headphones",
            "Speaker",
            "Smartwatch",
            "Tablet",
            "Laptop",
            "Monitor",
            "Keyboard",
            "Mouse",
            "Camera",
            "Router",
            "Charger",
            "Earbuds",
            "Drone",
            "Projector",
            "Phone",
        ),
        (
            "Wireless",
            "Smart",
            "Portable",
            "Pro",
            "Ultra",
            "Compact",
            "Noise-Cancelling",
            "4K",
            "Gaming",
            "Mini",
        ),
    ),
    Category(
        "Clothing",
        10,
        250,
        (
            "T-Shirt",
            "Jeans",
            "Jacket",
            "Sweater",
            "Dress",
            "Sneakers",
            "Scarf",
            "Hoodie",
            "Shorts",
            "Coat",
            "Boots",
            "Cap",
            "Shirt",
            "Skirt",
            "Socks",
        ),
        (
            "Cotton",
            "Slim-Fit",
            "Classic",
            "Vintage",
            "Wool",
            "Linen",
            "Organic",
            "Waterproof",
            "Casual",
            "Striped",
        ),
    ),
    Category(
        "Food",
        10,
        60,
        (
            "Coffee Beans",
            "Olive Oil",
            "Dark Chocolate",
            "Green Tea",
            "Honey",
            "Granola",
            "Pasta",
            "Hot Sauce",
            "Maple Syrup",
            "Almonds",
            "Rice",
            "Jam",
            "Spice Mix",
            "Cookies",
            "Cheese Selection",
        ),
        (
            "Organic",
            "Artisan",
            "Premium",
            "Fair-Trade",
            "Gourmet",
            "Spicy",
            "Roasted",
            "Wildflower",
            "Smoked",
            "Family-Size",
        ),
    ),
    Category(
        "Books",
        10,
        80,
        (
            "Cookbook",
            "Novel",
            "Biography",
            "Atlas",
            "Field Guide",
            "Poetry Collection",
            "Thriller",
            "History",
            "Workbook",
            "Anthology",
            "Memoir",
            "Handbook",
            "Graphic Novel",
            "Travel Guide",
            "Dictionary",
        ),
        (
            "Illustrated",
            "Collected",
            "Pocket",
            "Annotated",
            "Complete",
            "Bestselling",
            "Hardcover",
            "Paperback",
            "Essential",
            "Classic",
        ),
    ),
)

STORE_TYPES: tuple[str, ...] = ("Retail", "Online")
ONLINE_SHARE = 0.25
#: Retail stores open at 8, 9 or 10 and close at 19..22 (hours, local = UTC here).
RETAIL_OPENING = (8, 11)
RETAIL_CLOSING = (19, 23)

PAYMENT_METHODS: tuple[str, ...] = ("Cash", "Credit Card", "PayPal")
#: Payment mix by store type (rows: Retail, Online; columns: PAYMENT_METHODS). No cash online.
PAYMENT_MIX: tuple[tuple[float, ...], ...] = ((0.30, 0.50, 0.20), (0.0, 0.62, 0.38))

#: Relative sales by hour of day (0..23), before a store's opening hours are applied.
HOURLY = {
    # lunch and after-work peaks
    ("Retail", "weekday"): np.array(
        [
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0.2,
            0.5,
            0.8,
            1.0,
            1.2,
            1.6,
            1.5,
            1.1,
            1.0,
            1.2,
            1.6,
            1.9,
            1.7,
            1.2,
            0.8,
            0.4,
            0.1,
        ]
    ),
    # a long midday plateau
    ("Retail", "weekend"): np.array(
        [
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0.1,
            0.3,
            0.6,
            1.2,
            1.7,
            1.9,
            1.9,
            1.8,
            1.7,
            1.6,
            1.4,
            1.1,
            0.8,
            0.5,
            0.3,
            0.1,
            0.05,
        ]
    ),
    # around the clock with a night dip and an evening peak
    ("Online", "weekday"): np.array(
        [
            0.35,
            0.22,
            0.15,
            0.12,
            0.12,
            0.18,
            0.35,
            0.6,
            0.8,
            0.9,
            0.95,
            1.0,
            1.05,
            1.0,
            0.95,
            0.95,
            1.0,
            1.1,
            1.3,
            1.5,
            1.6,
            1.5,
            1.1,
            0.65,
        ]
    ),
    ("Online", "weekend"): np.array(
        [
            0.45,
            0.3,
            0.2,
            0.15,
            0.12,
            0.15,
            0.25,
            0.4,
            0.65,
            0.9,
            1.1,
            1.2,
            1.2,
            1.15,
            1.1,
            1.1,
            1.1,
            1.15,
            1.3,
            1.45,
            1.55,
            1.45,
            1.15,
            0.75,
        ]
    ),
}
