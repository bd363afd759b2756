"""The product catalog's vocabulary and price ranges: data, not code."""

from __future__ import annotations

from dataclasses import dataclass


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
PAYMENT_METHODS: tuple[str, ...] = ("Cash", "Credit Card", "PayPal")
#: Payment mix by store type (rows: Retail, Online; columns: PAYMENT_METHODS). No cash online.
PAYMENT_MIX: tuple[tuple[float, ...], ...] = ((0.30, 0.50, 0.20), (0.0, 0.62, 0.38))
ONLINE_SHARE = 0.25
