"""Words of the built-in world: the topic tree, synonyms, moods, styles, locations and text templates.

Everything here is plain English so that a pretrained text model (all-MiniLM-L6-v2) already knows that
"pastry" and "baking" are close. Titles, OCR, ASR, tags, queries and captions draw *different* synonyms of
the same concept, so exact word overlap is not enough to match them; meaning is.

Mood words never appear in item text (mood lives only in audio); style and motion words appear only in
the weak captions of the ``general`` source, never in item text.
"""

from __future__ import annotations

# L1 -> (synonyms of L1, {L2: synonyms of L2})
TOPICS: dict[str, tuple[list[str], dict[str, list[str]]]] = {
    "cooking": (
        ["cooking", "recipe", "food", "kitchen", "home cooking"],
        {
            "baking": ["baking", "cake", "bread", "pastry", "cookies", "muffins", "sourdough"],
            "grilling": ["grilling", "barbecue", "bbq", "steak", "skewers", "smoked ribs"],
            "noodles": ["noodles", "ramen", "pasta", "spaghetti", "udon", "lo mein"],
            "salads": ["salad", "greens", "healthy bowl", "vegetables", "veggie bowl", "lettuce"],
        },
    ),
    "travel": (
        ["travel", "trip", "vacation", "journey", "getaway"],
        {
            "beach": ["beach", "seaside", "coast", "shore", "ocean waves", "sandy bay"],
            "mountains": ["mountains", "hiking", "trail", "summit", "alpine peak", "trek"],
            "city": ["city", "downtown", "streets", "skyline", "urban walk", "old town"],
            "camping": ["camping", "tent", "campfire", "outdoors", "wilderness", "campsite"],
        },
    ),
    "music": (
        ["music", "song", "performance", "musician", "jam session"],
        {
            "guitar": ["guitar", "acoustic guitar", "riff", "strumming", "fingerstyle", "chords"],
            "piano": ["piano", "keyboard", "keys", "pianist", "grand piano", "piano cover"],
            "drums": ["drums", "drummer", "drum kit", "percussion", "drum solo", "beat making"],
            "singing": ["singing", "vocals", "singer", "cover song", "karaoke", "vocal practice"],
        },
    ),
    "sports": (
        ["sports", "athletics", "workout", "training", "fitness"],
        {
            "football": ["football", "soccer", "goal", "striker", "free kick", "dribbling"],
            "basketball": ["basketball", "hoops", "dunk", "court", "three pointer", "layup"],
            "swimming": ["swimming", "swimmer", "pool laps", "freestyle stroke", "diving"],
            "cycling": ["cycling", "bike ride", "bicycle", "cyclist", "road bike", "mountain biking"],
        },
    ),
    "pets": (
        ["pets", "animals", "furry friends", "pet care", "cute animals"],
        {
            "dogs": ["dog", "puppy", "doggo", "pup", "retriever", "canine"],
            "cats": ["cat", "kitten", "kitty", "feline", "tabby", "cat nap"],
            "birds": ["bird", "parrot", "budgie", "songbird", "parakeet", "cockatiel"],
            "fish": ["fish", "aquarium", "goldfish", "fish tank", "betta", "koi pond"],
        },
    ),
    "gaming": (
        ["gaming", "video games", "gameplay", "gamer", "let's play"],
        {
            "shooters": ["shooter", "fps", "sniper", "battle royale", "headshot", "squad match"],
            "racing": ["racing game", "race car", "drift", "lap record", "kart race", "speed run"],
            "puzzle": ["puzzle", "brain teaser", "riddle", "sudoku", "logic game", "crossword"],
            "rpg": ["rpg", "role playing", "quest", "dungeon", "fantasy adventure", "boss fight"],
        },
    ),
    "tech": (
        ["tech", "technology", "electronics", "gadget review", "unboxing"],
        {
            "phones": ["phone", "smartphone", "mobile", "handset", "cellphone", "flagship phone"],
            "laptops": ["laptop", "notebook", "ultrabook", "computer", "macbook alternative"],
            "cameras": ["camera", "lens", "photography", "mirrorless", "dslr", "camera gear"],
            "gadgets": ["gadget", "smartwatch", "earbuds", "headphones", "gizmo", "wearable"],
        },
    ),
    "fashion": (
        ["fashion", "style", "clothing", "beauty", "look book"],
        {
            "streetwear": ["streetwear", "sneakers", "hoodie", "urban style", "street style", "kicks"],
            "makeup": ["makeup", "cosmetics", "lipstick", "eyeliner", "skincare", "beauty routine"],
            "outfits": ["outfit", "ootd", "wardrobe", "clothes haul", "outfit ideas", "capsule wardrobe"],
            "jewelry": ["jewelry", "necklace", "earrings", "rings", "bracelet", "pendant"],
        },
    ),
}

L1_NAMES: list[str] = list(TOPICS)
L2_NAMES: list[str] = [l2 for l1 in L1_NAMES for l2 in TOPICS[l1][1]]
L2_PARENT: list[int] = [i for i, l1 in enumerate(L1_NAMES) for _ in TOPICS[l1][1]]
L1_WORDS: list[list[str]] = [TOPICS[l1][0] for l1 in L1_NAMES]
L2_WORDS: list[list[str]] = [words for l1 in L1_NAMES for words in TOPICS[l1][1].values()]
N_L2_PER_L1 = 4

MOODS: list[str] = ["calm", "upbeat", "tense", "melancholic"]
# Words for moods, used only in search queries and weak captions (never in item text).
MOOD_WORDS: list[list[str]] = [
    ["relaxing", "chill", "calm", "soothing", "peaceful"],
    ["upbeat", "energetic", "happy", "cheerful", "lively"],
    ["tense", "dark", "suspenseful", "intense", "dramatic"],
    ["sad", "melancholic", "emotional", "moody", "sorrowful"],
]

STYLES: list[str] = ["warm", "cool", "neon", "pastel", "mono"]
STYLE_WORDS: list[list[str]] = [
    ["warm orange", "sunset toned", "warm red"],
    ["cool blue", "icy teal", "blue toned"],
    ["neon", "glowing magenta", "vivid neon green"],
    ["pastel", "soft pink", "light lavender"],
    ["black and white", "monochrome", "grayscale"],
]

MOTIONS: list[str] = ["static", "pan", "tilt", "shaky"]
MOTION_WORDS: list[list[str]] = [
    ["still shot", "static camera", "tripod shot"],
    ["panning shot", "sideways camera sweep", "horizontal pan"],
    ["tilting shot", "vertical camera move", "camera tilt"],
    ["shaky handheld", "handheld wobble", "bumpy camera"],
]

# location -> phrases naming it (city, country, landmark)
LOCATIONS: dict[str, list[str]] = {
    "paris": ["paris", "france", "the eiffel tower"],
    "tokyo": ["tokyo", "japan", "shibuya"],
    "new york": ["new york", "nyc", "manhattan"],
    "london": ["london", "england", "the thames"],
    "sydney": ["sydney", "australia", "bondi"],
    "rio": ["rio de janeiro", "brazil", "copacabana"],
    "cairo": ["cairo", "egypt", "the nile"],
    "bali": ["bali", "indonesia", "ubud"],
}
LOCATION_NAMES: list[str] = list(LOCATIONS)
LOCATION_WORDS: list[list[str]] = [LOCATIONS[k] for k in LOCATION_NAMES]

N_TASTES = 4
# the taste an item of each style has when its taste follows its style (RATES.taste_follows_style); -1: the
# style says nothing (mono covers), which keeps the four tastes equally common
STYLE_TASTE: list[int] = [0, 1, 2, 3, -1]

# ---- text templates -------------------------------------------------------------------------------------
ADJECTIVES = ["amazing", "easy", "quick", "simple", "ultimate", "epic", "perfect", "honest", "little", "best"]

TITLE_TEMPLATES = [
    "my {adj} {w} {suffix}",
    "{w} tips for beginners",
    "the {adj} {w} you will ever see",
    "{w} day {n}",
    "trying {w} for the first time",
    "{adj} {w} and {w2}",
    "{a_adj} {l1w} video about {w}",
    "why i love {w}",
    "{w} {suffix}",
    "how i do {w} every week",
]
TITLE_SUFFIXES = ["vlog", "tutorial", "challenge", "routine", "guide", "diary", "highlights", "review"]

CLICKBAIT_TITLES = [
    "you won't believe what happens next",
    "watch till the end",
    "this changed everything",
    "nobody expected this",
    "i can't believe i did this",
    "the secret they don't tell you",
    "gone wrong",
    "must watch before it's deleted",
]

# titles of "text-poor" items: nothing about the topic
GENERIC_TITLES = [
    "my new video",
    "part 2",
    "wait for it",
    "day in my life",
    "quick update",
    "new post",
    "just for fun",
    "guess what",
    "had to share this",
    "weekend mood",
]

OCR_TEMPLATES = ["{w}", "{w} part {n}", "{l1w} time", "follow for more {w}", "{w} {suffix}"]
OCR_LOCATION = ["live from {loc}", "{loc} edition", "in {loc}", "{loc} vlog"]

ASR_OPENERS = [
    "hey guys welcome back",
    "hi everyone",
    "okay so",
    "what's up friends",
    "hello and welcome",
]
ASR_BODIES = [
    "today we are doing some {w}",
    "this {w} is really {adj}",
    "let me show you my {w}",
    "i have been into {w} lately",
    "a lot of you asked about {w}",
]
ASR_LOCATION = ["we are here in {loc}", "greetings from {loc}", "right now i am in {loc}"]
ASR_CLOSERS = [
    "don't forget to subscribe",
    "see you next time",
    "let me know in the comments",
    "thanks for watching",
]

NOISE_TAGS = ["fyp", "viral", "trending", "foryou", "explore", "daily"]

NAME_FIRST = [
    "anna", "tom", "lily", "max", "mia", "leo", "zoe", "sam", "kai", "ivy", "noah", "emma",
    "liam", "ava", "ella", "finn", "ruby", "omar", "nina", "yuki", "raj", "lucia", "ben", "sofia",
]  # fmt: skip
# per L1: handle words an author of that topic would pick
NAME_HANDLES: list[list[str]] = [
    ["chef", "kitchen", "foodie", "bakes", "cooks"],
    ["wanderer", "nomad", "explorer", "travels", "roams"],
    ["beats", "tunes", "melody", "plays", "music"],
    ["fit", "athlete", "coach", "runs", "sporty"],
    ["pawsome", "petlover", "furbaby", "critters", "paws"],
    ["gamer", "pixel", "player", "noob", "gg"],
    ["techie", "geek", "gadgets", "unboxes", "bytes"],
    ["style", "glam", "chic", "looks", "vogue"],
]
NAME_GENERIC = ["daily", "real", "just", "the", "its", "hey"]

QUERY_TEMPLATES = ["{w}", "{w} video", "best {w}", "{w} ideas", "{l1w} {w}", "{w} tips", "new {w} clips"]
QUERY_LOCATION = ["{w} in {loc}", "{loc} {w}", "{w} {loc}"]
QUERY_MOOD = ["{mood} {w}", "{w} with {mood} music", "{mood} {w} video"]

CAPTION_TEMPLATES = [
    "a {style} cover showing {w}",
    "{motion} of {w}",
    "video about {w} with a {style} look",
    "{w}, {motion}",
    "{style} thumbnail, {l1w} content",
]
