"""SmartPizza's fixed reference data: cities, names, ingredients and recipes.

The generator draws from these lists; they do not grow with the scale.
"""

from __future__ import annotations

#: (city, country code, phone prefix, latitude, longitude, weight: how many branches it gets)
CITIES = [
    ("New York", "US", "+1", 40.71, -74.01, 9),
    ("Chicago", "US", "+1", 41.88, -87.63, 5),
    ("Los Angeles", "US", "+1", 34.05, -118.24, 7),
    ("Toronto", "CA", "+1", 43.65, -79.38, 4),
    ("Mexico City", "MX", "+52", 19.43, -99.13, 5),
    ("Sao Paulo", "BR", "+55", -23.55, -46.63, 6),
    ("London", "GB", "+44", 51.51, -0.13, 7),
    ("Paris", "FR", "+33", 48.86, 2.35, 5),
    ("Berlin", "DE", "+49", 52.52, 13.40, 4),
    ("Madrid", "ES", "+34", 40.42, -3.70, 4),
    ("Milan", "IT", "+39", 45.46, 9.19, 4),
    ("Naples", "IT", "+39", 40.85, 14.27, 3),
    ("Sofia", "BG", "+359", 42.70, 23.32, 2),
    ("Warsaw", "PL", "+48", 52.23, 21.01, 3),
    ("Istanbul", "TR", "+90", 41.01, 28.98, 5),
    ("Cairo", "EG", "+20", 30.04, 31.24, 3),
    ("Lagos", "NG", "+234", 6.52, 3.38, 3),
    ("Mumbai", "IN", "+91", 19.08, 72.88, 6),
    ("Singapore", "SG", "+65", 1.35, 103.82, 3),
    ("Taipei", "TW", "+886", 25.03, 121.57, 4),
    ("Tokyo", "JP", "+81", 35.68, 139.69, 7),
    ("Seoul", "KR", "+82", 37.57, 126.98, 5),
    ("Sydney", "AU", "+61", -33.87, 151.21, 4),
]

FIRST_NAMES = [
    "Olivia", "Liam", "Emma", "Noah", "Amelia", "Oliver", "Ava", "Elijah", "Sophia", "Lucas", "Mia", "Mateo",
    "Isabella", "Leo", "Charlotte", "Hugo", "Chloe", "Arthur", "Lea", "Louis", "Giulia", "Marco", "Sofia",
    "Luca", "Ana", "Pedro", "Maria", "Jose", "Lucia", "Diego", "Hannah", "Felix", "Emilia", "Jonas", "Zofia",
    "Jakub", "Elif", "Emir", "Aisha", "Omar", "Chiamaka", "Tunde", "Priya", "Arjun", "Ananya", "Rohan", "Mei",
    "Wei", "Yuki", "Haruto", "Sakura", "Minjun", "Seoyeon", "Shu-fen", "Chih-hao", "Ivan", "Maya", "Nikola",
    "Grace", "Daniel",
]  # fmt: skip

LAST_NAMES = [
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
    "Lopez", "Wilson", "Anderson", "Taylor", "Thomas", "Moore", "Martin", "Lee", "Thompson", "White", "Silva",
    "Santos", "Oliveira", "Dubois", "Bernard", "Laurent", "Muller", "Schmidt", "Schneider", "Fischer", "Rossi",
    "Russo", "Ferrari", "Esposito", "Bianchi", "Romano", "Kowalski", "Nowak", "Yilmaz", "Kaya", "Hassan",
    "Okafor", "Adeyemi", "Patel", "Sharma", "Singh", "Tan", "Lim", "Chen", "Lin", "Wang", "Sato", "Suzuki",
    "Takahashi", "Kim", "Park", "Choi", "Ivanov", "Petrova", "Nguyen",
]  # fmt: skip

STREETS = [
    "Main Street", "Oak Avenue", "Park Road", "Station Road", "Church Street", "High Street", "Mill Lane",
    "Via Roma", "Rue de la Paix", "Hauptstrasse", "Calle Mayor", "Rua Augusta", "Ulitsa Lenina", "Market Street",
    "Harbour View", "River Walk", "Sunset Boulevard", "King Street", "Queen Street", "Garden Lane",
]  # fmt: skip

EMAIL_DOMAINS = ["example.com", "example.org", "example.net", "mail.example", "pizza.example"]

#: (name, unit cost per kg in cents, perishable)
INGREDIENTS = [
    ("dough", 180, False), ("tomato sauce", 320, False), ("mozzarella", 890, True), ("basil", 2400, True),
    ("oregano", 2100, False), ("olive oil", 950, False), ("garlic", 700, True), ("chili", 1500, True),
    ("salami", 1450, True), ("pepperoni", 1550, True), ("ham", 1300, True), ("prosciutto", 3200, True),
    ("bacon", 1400, True), ("sausage", 1200, True), ("chicken", 1100, True), ("tuna", 1600, False),
    ("anchovies", 2600, False), ("mushrooms", 600, True), ("onions", 250, True), ("green peppers", 450, True),
    ("black olives", 900, False), ("artichokes", 1300, False), ("pineapple", 400, False), ("sweetcorn", 380, False),
    ("jalapenos", 700, False), ("spinach", 800, True), ("rocket", 1800, True), ("cherry tomatoes", 650, True),
    ("gorgonzola", 1700, True), ("parmesan", 2300, False), ("goat cheese", 2000, True), ("ricotta", 900, True),
    ("bbq sauce", 500, False),
]  # fmt: skip

BASE = {"dough": 250, "tomato sauce": 80, "mozzarella": 120}

#: (name, category, price in cents, popularity weight, {ingredient: grams} on top of its base)
RECIPES = [
    ("Margherita", "classic", 890, 18, {**BASE, "basil": 3, "olive oil": 5}),
    ("Marinara", "classic", 790, 4, {"dough": 250, "tomato sauce": 100, "garlic": 6, "oregano": 2, "olive oil": 8}),
    ("Diavola", "classic", 1090, 9, {**BASE, "salami": 60, "chili": 4}),
    ("Pepperoni", "meat", 1090, 14, {**BASE, "pepperoni": 70}),
    ("Quattro Formaggi", "veggie", 1190, 6, {"dough": 250, "mozzarella": 90, "gorgonzola": 40, "parmesan": 25, "goat cheese": 35}),
    ("Capricciosa", "classic", 1150, 6, {**BASE, "ham": 50, "mushrooms": 40, "artichokes": 30, "black olives": 15}),
    ("Prosciutto e Funghi", "classic", 1090, 5, {**BASE, "ham": 60, "mushrooms": 50}),
    ("Hawaiian", "meat", 1050, 7, {**BASE, "ham": 60, "pineapple": 70}),
    ("BBQ Chicken", "meat", 1250, 6, {"dough": 250, "bbq sauce": 70, "mozzarella": 120, "chicken": 80, "onions": 30}),
    ("Vegetariana", "veggie", 1090, 5, {**BASE, "mushrooms": 30, "onions": 25, "green peppers": 30, "black olives": 15, "cherry tomatoes": 30}),
    ("Napoletana", "classic", 990, 3, {**BASE, "anchovies": 20, "black olives": 15, "oregano": 2}),
    ("Tonno", "classic", 1090, 3, {**BASE, "tuna": 70, "onions": 25}),
    ("Quattro Stagioni", "classic", 1190, 4, {**BASE, "ham": 40, "mushrooms": 30, "artichokes": 30, "black olives": 15}),
    ("Parma", "premium", 1450, 4, {**BASE, "prosciutto": 50, "rocket": 15, "parmesan": 15}),
    ("Calzone", "classic", 1150, 3, {"dough": 300, "tomato sauce": 60, "mozzarella": 110, "ham": 50, "ricotta": 50}),
    ("Spinach & Ricotta", "veggie", 1090, 3, {**BASE, "spinach": 60, "ricotta": 50, "garlic": 4}),
    ("Meat Feast", "meat", 1390, 6, {**BASE, "pepperoni": 40, "ham": 40, "bacon": 40, "sausage": 40}),
    ("Mexicana", "meat", 1190, 3, {**BASE, "sausage": 50, "jalapenos": 25, "onions": 25, "sweetcorn": 30, "green peppers": 25}),
    ("Funghi", "veggie", 950, 4, {**BASE, "mushrooms": 70}),
    ("Bianca", "premium", 1290, 2, {"dough": 250, "mozzarella": 100, "ricotta": 40, "garlic": 5, "rocket": 10, "olive oil": 8}),
]  # fmt: skip

CHANNELS = ["app", "web", "phone", "walk_in"]
CHANNEL_WEIGHTS = [0.45, 0.25, 0.10, 0.20]
DELIVERY_EVENTS = ["placed", "baked", "dispatched", "delivered"]
