"""A synthetic stand-in for the D2L "California House Prices" competition, in Kaggle's exact layout.

No real data of this competition is available offline, so ``build`` generates houses with the same 41
columns (40 in test), the same value formats and the same awkward parts as the real Zillow scrape:

* free text: ``Summary`` (1-4 sentences from templates filled with the house's own attributes, with
  commas, double quotes, some newlines, some non-ASCII characters such as "é" and "—", a few empty) and
  ``Address`` ("540 Pine Ln", condos often with a unit: "Apt 12", "#204", "Unit B");
* ``Bedrooms`` is text, as in the real data: mostly a count ("3"), sometimes a description of the rooms
  ("Ground Floor Bedroom, Walk-in Closet") with no count at all;
* comma-separated multi-value fields (Heating/Cooling/Parking and their "features" columns, Flooring,
  Appliances included, Laundry features), tokens in alphabetical order as Zillow writes them;
* high-cardinality categoricals: ~200 California cities (Region is the City except for a few
  neighbourhood names), several hundred 5-digit Zip codes starting with 9, over a thousand school names
  (duplicated across towns, like the many "Lincoln Elementary School"s);
* dates as ``YYYY-MM-DD`` text (``Listed On``; ``Last Sold On``, older and mostly missing);
* missing values that follow the type (vacant land has no bedrooms, year or interior area).

One deliberate departure from the real file: the real ``Lot`` column is numeric (square feet); here about
1% of the known lots are text in acres ("0.25 Acres", 1 acre = 43,560 sq ft), so feature code meets a
number stored as text with a unit and must convert it rather than crash or drop the column.

The price model (log scale): base level + 0.75 log(area) + city and zip effects + type + year-built
shape + school scores + lot size + a hidden condition (fixer / average / remodelled, which the Summary
mentions) + noise. Prices span about $50k to $20M+. ``Listed Price`` is the sold price times ~5%
lognormal noise; ``Tax assessed value`` follows Proposition 13 (last sale price grown 2% a year, capped
by the market) and ``Annual tax amount`` is 1.1-1.3% of it.

The split is temporal like the competition's: train houses were listed in January-June 2020, test
houses in July-December 2020, and prices drift up 1% a month, so the test set has a covariate shift.
Train Ids are 0..n_train-1, test Ids continue from n_train; the hidden test prices go to
``solution.csv`` (only local scoring reads it). Everything is a function of ``seed``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from shared.io import write_csv, write_text

KAGGLE_COLUMNS = [
    "Id", "Address", "Sold Price", "Summary", "Type", "Year built", "Heating", "Cooling", "Parking",
    "Lot", "Bedrooms", "Bathrooms", "Full bathrooms", "Total interior livable area", "Total spaces",
    "Garage spaces", "Region", "Elementary School", "Elementary School Score", "Elementary School Distance",
    "Middle School", "Middle School Score", "Middle School Distance", "High School", "High School Score",
    "High School Distance", "Flooring", "Heating features", "Cooling features", "Appliances included",
    "Laundry features", "Parking features", "Tax assessed value", "Annual tax amount", "Listed On",
    "Listed Price", "Last Sold On", "Last Sold Price", "City", "Zip", "State",
]
TARGET = "Sold Price"
SIZES = {"tiny": (600, 400), "small": (3000, 2000), "medium": (12000, 8000), "full": (47439, 31626)}  # (train, test) rows; tiny: tests
SQFT_PER_ACRE = 43560.0

# California cities by price tier (0 = cheapest ... 3 = dearest); a leading "*" marks a big city (more
# listings and more zip codes).
_CITIES = {
    3: """Atherton|Palo Alto|Los Altos|Los Altos Hills|Saratoga|Menlo Park|Hillsborough|Beverly Hills|Malibu|
        Manhattan Beach|Newport Beach|Cupertino|Portola Valley|Woodside|Los Gatos|Piedmont|Belvedere|
        Mill Valley|Ross|Laguna Beach|Palos Verdes Estates|Carmel|Burlingame|San Marino|Coronado|Sausalito|
        Tiburon|La Canada Flintridge|Monte Sereno|Hermosa Beach|Del Mar|Orinda""",
    2: """*San Francisco|*San Jose|Mountain View|Sunnyvale|Santa Clara|*Fremont|Redwood City|San Mateo|
        Foster City|Berkeley|Pleasanton|Danville|San Ramon|Walnut Creek|Lafayette|Moraga|Dublin|Milpitas|
        Campbell|Santa Monica|Pasadena|*Irvine|Huntington Beach|Santa Barbara|*Los Angeles|Culver City|
        Redondo Beach|Torrance|South Pasadena|Arcadia|Calabasas|Dana Point|San Clemente|Encinitas|
        Carlsbad|Solana Beach|Novato|San Rafael|Larkspur|Half Moon Bay|Pacifica|Daly City|
        South San Francisco|San Bruno|Millbrae|Belmont|San Carlos|Alameda|Albany|Emeryville|Livermore|
        Castro Valley|Santa Cruz|Capitola|Scotts Valley|Napa|Sonoma|Yorba Linda|Tustin|Costa Mesa|
        Mission Viejo|Lake Forest|Aliso Viejo|Laguna Niguel|Thousand Oaks|Westlake Village|Agoura Hills|
        Sherman Oaks|Studio City|Encino""",
    1: """*Sacramento|*San Diego|*Long Beach|Anaheim|Santa Ana|Riverside|Hayward|San Leandro|Union City|
        Newark|Concord|Pleasant Hill|Martinez|Vallejo|Richmond|El Cerrito|Fairfield|Vacaville|Santa Rosa|
        Petaluma|Roseville|Rocklin|Folsom|Elk Grove|Davis|Glendale|Burbank|Whittier|Downey|Norwalk|
        Fullerton|Orange|Garden Grove|Chula Vista|Oceanside|Escondido|San Marcos|Vista|Temecula|Murrieta|
        Corona|Ontario|Rancho Cucamonga|Upland|Pomona|West Covina|El Monte|Alhambra|Monterey Park|
        Inglewood|Hawthorne|Gardena|Carson|Oxnard|Ventura|Camarillo|Simi Valley|Santa Clarita|Salinas|
        Monterey|San Luis Obispo|Antioch|Brentwood|Pittsburg|Tracy|Manteca|Gilroy|Morgan Hill|Hollister|
        Chico|Palm Springs|La Quinta|*Oakland|North Hollywood|Van Nuys""",
    0: """*Fresno|*Bakersfield|*Stockton|Modesto|Merced|Visalia|Turlock|Lodi|Madera|Hanford|Tulare|
        Porterville|Delano|Clovis|Lancaster|Palmdale|Victorville|Hesperia|Apple Valley|Barstow|Hemet|
        San Jacinto|Perris|Moreno Valley|Fontana|San Bernardino|Rialto|Colton|Indio|Coachella|El Centro|
        Calexico|Yuba City|Marysville|Oroville|Red Bluff|Eureka|Crescent City|Susanville|Ridgecrest|
        Twentynine Palms|Yucca Valley|Adelanto|Lemoore|Los Banos|Atwater|Ceres|Oakdale|Riverbank|Selma|
        Reedley|Sanger|Dinuba|Wasco|Shafter|Arvin|Taft|Blythe|Needles|Clearlake|Lakeport|Ukiah|Willits|
        Redding""",
}

_STREETS = """Pine|Oak|Maple|Main|Elm|Cedar|Walnut|Sycamore|Willow|Birch|Magnolia|Sunset|Mission|Valley|
    Hillside|Park|Lake|Ocean|Bay|Vista|Canyon|Ridge|Meadow|Orchard|Vineyard|Spring|Highland|Lincoln|
    Washington|Jefferson|Madison|Franklin|Jackson|Monroe|Grant|Adams|Hamilton|Church|School|Mill|Railroad|
    El Camino Real|Alameda de las Pulgas|Via Del Mar|Camino Del Sol|La Paloma|Las Flores|San Antonio|
    Santa Rosa|Del Monte|Monte Vista|Sierra|Shasta|Tahoe|Yosemite|Sequoia|Redwood|Cypress|Eucalyptus|
    Palm|Olive|Almond|Cherry|Peach|Apricot|Lemon|Orange Grove|Rose|Poppy|Jasmine|Juniper|Laurel|Manzanita|
    Chaparral|Mesa|Arroyo|Rancho|Hacienda|Plaza|Alta|Grand|Central|Market|Broadway|University|College|
    Stanford|Berkeley|Pacific|Coast|Harbor|Marina|Pier|Seaview|Bayview|Skyline|Summit|Crest|Glen|Forest|
    Woodland|Briarwood|Fox Hollow|Quail|Hawk|Eagle|Dove|Sparrow|Robin|Bluebird|Cardinal|Heron|Pelican|
    Mustang|Stallion|Ranch|Farm|Garden|Greenway|Fairway|Country Club|Golf|Tennis|Sunrise|Moonlight|
    Starlight|Rainbow|Aurora|Horizon|Prospect|Pleasant|Liberty|Independence|Union|Victory|Heritage|
    Pioneer|Frontier|Gold|Silver|Copper|Granite|Marble|Quarry|Creek|River|Brook|Falls|Fountain|Well"""
_SUFFIXES = ["St", "Ave", "Ln", "Dr", "Ct", "Way", "Blvd", "Rd", "Pl", "Cir", "Ter", "Loop"]
_SUFFIX_P = [0.2, 0.2, 0.08, 0.18, 0.1, 0.09, 0.04, 0.05, 0.03, 0.015, 0.01, 0.005]

_SCHOOL_NAMES = """Lincoln|Washington|Jefferson|Roosevelt|Kennedy|Cesar Chavez|Martin Luther King Jr.|
    Franklin|Madison|Monroe|Jackson|Hoover|Wilson|Garfield|Grant|McKinley|Emerson|Whittier|Longfellow|
    Hawthorne|Thoreau|Muir|John Muir|Burbank|Edison|Fremont|Serra|Junipero Serra|Portola|Anza|Cabrillo|
    Balboa|Drake|Sutter|Marshall|Bidwell|Vallejo|Alvarado|Castro|Pico|Sepulveda|Estudillo|Bernal|Peralta|
    Santa Rita|Santa Teresa|San Miguel|San Antonio|Del Mar|Monte Vista|Sierra Vista|Valley View|Mountain View|
    Oak Grove|Oak Knoll|Oak Park|Live Oak|Redwood|Sequoia|Cypress|Willow Glen|Almond|Orchard|Meadow|
    Meadowbrook|Brookside|Creekside|Riverside|Lakeside|Hillside|Highlands|Parkside|Westwood|Eastside|
    Northgate|Southgate|Sunnyside|Sunset|Sunrise|Pacific|Ocean View|Bayside|Harbor|Mariners|Alta Loma|
    Mira Monte|Mira Vista|Loma Verde|Buena Vista|Vista Verde|La Mesa|Las Lomas|Los Cerritos|El Dorado|
    Egan|Blach|Terman|Jordan|Fisher|Hyde|Kennedy|Frost|Miller|Harvey|Carson|Everett|Gomez|Nguyen|Ramirez|
    Anderson|Baldwin|Ellis|Graham|Hughes|Lowell|Mann|Parker|Stevens|Taylor|Walker|Young|Castillero|
    Gunn|Palo Alto|Homestead|Lynbrook|Monta Vista|Mission San Jose|Irvington|Piedmont Hills|Evergreen"""
_SCHOOL_LEVELS = {
    "elementary": (["Elementary School", "Elementary", "Primary School", "Elementary School"], [0.7, 0.2, 0.05, 0.05]),
    "middle": (["Middle School", "Junior High School", "Intermediate School", "Middle"], [0.6, 0.2, 0.15, 0.05]),
    "high": (["High School", "Senior High School", "High"], [0.88, 0.07, 0.05]),
}

_TYPES = ["SingleFamily", "Condo", "Townhouse", "MultiFamily", "VacantLand", "MobileManufactured", "Unknown"]
_TYPE_P = [0.70, 0.145, 0.06, 0.035, 0.035, 0.015, 0.01]
_TYPE_EFFECT = np.array([0.0, -0.22, -0.12, 0.08, 0.0, -1.1, -0.15])
_TYPE_AREA = np.array([1850.0, 1100.0, 1450.0, 2700.0, np.nan, 1150.0, 1600.0])
_TYPE_PHRASE = ["single family home", "condo", "townhouse", "multi-family home", "lot/land",
                "mobile / manufactured home", "home"]
_TYPE_WORD = ["home", "condo", "townhome", "duplex", "lot", "manufactured home", "property"]

_HEATING_TOKENS = ["Baseboard", "Central", "Electric", "Fireplace(s)", "Forced air", "Gas", "Heat pump",
                   "Other", "Radiant", "Solar", "Wall", "Zoned"]
_HEATING_P = [0.03, 0.35, 0.12, 0.15, 0.55, 0.55, 0.05, 0.04, 0.05, 0.03, 0.08, 0.05]
_HEATING_SHORT = ["Central Forced Air - Gas", "Heating - 2+ Zones, Central Forced Air - Gas", "Wall Furnace",
                  "Central", "Forced Air", "Radiant Floor", "None", "Other", "Fireplace(s), Central",
                  "Forced air, Gas"]
_COOLING_TOKENS = ["Ceiling Fan(s)", "Central", "Central AC", "Evaporative Cooler", "Heat Pump", "Multi-Zone",
                   "Wall/Window Unit(s)", "Whole House / Attic Fan"]
_COOLING_P = [0.15, 0.3, 0.3, 0.05, 0.04, 0.04, 0.06, 0.04]
_COOLING_SHORT = ["Central Air", "Central AC", "None", "Ceiling Fan(s), Central Air", "Wall/Window Unit(s)",
                  "Evaporative Cooler", "Central"]
_PARKING_TOKENS = ["Carport", "Covered", "Driveway", "Garage", "Garage - Attached", "Garage - Detached",
                   "Garage Door Opener", "Guest", "Off-street", "On-street", "RV Access/Parking", "Side by Side",
                   "Tandem"]
_FLOORING_TOKENS = ["Bamboo", "Carpet", "Concrete", "Engineered Wood", "Hardwood", "Laminate", "Linoleum",
                    "Other", "Stone", "Tile", "Vinyl", "Wood"]
_FLOORING_P = [0.02, 0.5, 0.03, 0.06, 0.4, 0.2, 0.08, 0.05, 0.05, 0.55, 0.2, 0.15]
_APPLIANCE_TOKENS = ["Built-In Range", "Dishwasher", "Double Oven", "Dryer", "Freezer", "Garbage disposal",
                     "Gas Water Heater", "Microwave", "Range / Oven", "Refrigerator", "Trash compactor", "Washer",
                     "Wine Refrigerator"]
_APPLIANCE_P = [0.1, 0.8, 0.08, 0.35, 0.05, 0.6, 0.15, 0.55, 0.75, 0.5, 0.05, 0.35, 0.04]
_LAUNDRY_TOKENS = ["Community Facility", "Electric Dryer Hookup", "Gas Dryer Hookup", "In Garage", "In Kitchen",
                   "In Utility Room", "Individual Room", "Inside", "Stacked", "Upper Level", "Washer / Dryer"]
_LAUNDRY_P = [0.04, 0.12, 0.15, 0.35, 0.05, 0.15, 0.1, 0.35, 0.05, 0.05, 0.3]
_BEDROOM_TOKENS = ["Bath-Shower", "Dressing Area", "Ground Floor Bedroom", "Master Bedroom on Ground Floor",
                   "Primary Bedroom Suite", "Primary Suite / Retreat", "Sitting Area", "Walk-in Closet"]
_BEDROOM_P = [0.2, 0.15, 0.45, 0.25, 0.3, 0.3, 0.15, 0.5]

# California home price index by year (2020 = 1), for the previous sale prices.
_HPI_YEARS = np.arange(1990, 2021)
_HPI = np.array([0.33, 0.32, 0.30, 0.28, 0.27, 0.27, 0.27, 0.28, 0.30, 0.32, 0.36, 0.39, 0.44, 0.52, 0.66,
                 0.80, 0.85, 0.80, 0.62, 0.50, 0.50, 0.47, 0.50, 0.60, 0.68, 0.74, 0.80, 0.86, 0.92, 0.95, 1.0])
_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December"]


def _split(text: str) -> list[str]:
    return [w.strip() for w in text.split("|") if w.strip()]


def _join_flags(hits: np.ndarray, tokens: list[str], empty=np.nan) -> np.ndarray:
    """Rows of a boolean (n, k) matrix -> "a, b, c" strings (``empty`` where no flag is set). Every subset's
    string is built once and looked up by its bit mask, so the cost does not grow with the rows."""
    k = len(tokens)
    table = np.empty(1 << k, dtype=object)
    for mask in range(1 << k):
        table[mask] = ", ".join(tokens[i] for i in range(k) if mask >> i & 1) or empty
    return table[hits.astype(np.int64) @ (1 << np.arange(k, dtype=np.int64))]


def _flags(rng, n: int, probs) -> np.ndarray:
    return rng.random((n, len(probs))) < np.asarray(probs)


def _with_nan(rng, values: np.ndarray, p: float) -> np.ndarray:
    out = values.astype(object)
    out[rng.random(len(values)) < p] = np.nan
    return out


def _date_strings(base: str, days: np.ndarray) -> np.ndarray:
    return np.datetime_as_string(np.datetime64(base, "D") + days.astype("timedelta64[D]"), unit="D").astype(object)


def _places(rng):
    """Cities with tier, weight and level; zip codes nested in cities; schools nested in zip codes."""
    names, tiers, big = [], [], []
    for tier, text in _CITIES.items():
        for name in _split(text):
            names.append(name.lstrip("*"))
            tiers.append(tier)
            big.append(name.startswith("*"))
    tiers, big = np.array(tiers), np.array(big)
    n_city = len(names)
    weight = rng.lognormal(0.0, 0.8, n_city) * np.where(big, 12.0, 1.0)
    level = 0.5 * (tiers - 1.5) + 0.3 * (tiers == 3) + rng.normal(0, 0.15, n_city)
    n_zip = 1 + rng.poisson(np.where(big, 12.0, 1.0))
    zip_start = np.concatenate([[0], np.cumsum(n_zip)[:-1]])
    zips = np.sort(rng.choice(np.arange(90001, 96162), size=n_zip.sum(), replace=False))
    zips = zips[rng.permutation(len(zips))]  # not sorted by city
    zip_city = np.repeat(np.arange(n_city), n_zip)
    zip_level = rng.normal(0, 0.2, len(zips))
    pool = _split(_SCHOOL_NAMES)
    schools = {}
    for level_name, (suffixes, suffix_p) in _SCHOOL_LEVELS.items():
        per_zip = {"elementary": 1 + rng.poisson(1.6, len(zips)), "middle": 1 + rng.binomial(1, 0.4, len(zips)),
                   "high": np.ones(len(zips), int)}[level_name]
        total = per_zip.sum()
        owner = np.repeat(np.arange(len(zips)), per_zip)
        stem = np.array(pool, dtype=object)[rng.integers(0, len(pool), total)]
        suffix = np.array(suffixes, dtype=object)[rng.choice(len(suffixes), total, p=suffix_p)]
        quality = (tiers[zip_city[owner]] - 1.5) * 1.3 + zip_level[owner] * 3 + rng.normal(0, 1.4, total)
        score = np.clip(np.round(5.5 + quality), 1, 10)
        schools[level_name] = {
            "name": stem + " " + suffix, "score": score, "start": np.concatenate([[0], np.cumsum(per_zip)[:-1]]),
            "count": per_zip,
        }
    return {"city": np.array(names, dtype=object), "tier": tiers, "weight": weight / weight.sum(),
            "level": level, "zip": zips, "zip_start": zip_start, "n_zip": n_zip, "zip_level": zip_level,
            "schools": schools}


def _fmt_int(x) -> str:
    return f"{int(x):,}"


def _summaries(rng, h: dict) -> np.ndarray:
    """Summary text: Zillow's generated paragraph, an agent's blurb, a shouted one-liner, or nothing."""
    n = len(h["type"])
    kind = rng.choice(4, n, p=[0.42, 0.46, 0.07, 0.05])
    n_sent = rng.integers(1, 5, n)
    picks = rng.integers(0, 1 << 20, (n, 4))
    sep_draw = rng.random(n)
    seps = np.where(sep_draw < 0.06, "\n", np.where(sep_draw < 0.09, "\n\n", np.where(sep_draw < 0.2, "", " ")))
    cond = h["condition"]
    out = np.empty(n, dtype=object)
    adjs = ["move-in ready", "turn-key", "one of a kind", "light & bright", "picture perfect", "cozy", "dream"]
    fixer = ['Fixer-upper: needs TLC, sold "as-is", no repairs.', "Investor special, bring your contractor!",
             "Great bones, needs work — priced accordingly."]
    avg = ["Well-maintained, with a functional layout and plenty of natural light.",
           "Original condition, clean and well cared for by the same owner for decades."]
    remodel = ["Fully remodeled in 2019 with quartz counters, custom cabinetry, and stainless appliances.",
               'Tastefully updated — new roof, new paint, and refinished hardwood floors; a true "10".',
               "Designer finishes throughout: chef's kitchen, spa-like baths, and wide-plank oak floors."]
    closers = ["Offers due Tuesday.", "Open house Sat & Sun, 1–4pm.", "Shown by appointment only.",
               "Seller is motivated; bring all offers!", "Décor and staging furniture not included.",
               'Buyer to verify all info, "as-is" sale.', "Don't miss it!"]
    for i in range(n):
        t, k, p = h["type"][i], kind[i], picks[i]
        addr, city, zip_ = h["address"][i], h["city"][i], h["zip"][i]
        area, year, bd, ba = h["area"][i], h["year"][i], h["bedrooms"][i], h["bathrooms"][i]
        lot = h["lot_sqft"][i]
        if k == 3:
            out[i] = np.nan
            continue
        if k == 2:
            bits = ["MUST SEE!!"]
            if bd == bd:
                bits.append(f"{int(bd)} BD / {f'{ba:g}' if ba == ba else '?'} BA")
            if area == area:
                bits.append(f"{_fmt_int(area)} SQFT")
            out[i] = ", ".join(bits) + ". BRING ALL OFFERS."
            continue
        if k == 0:
            if t == 4:
                size = f" of {_fmt_int(lot)} sq ft" if lot == lot else ""
                sents = [f"{addr}, {city}, CA {zip_} is a vacant lot{size}."]
            else:
                s = f"{addr}, {city}, CA {zip_} is a {_TYPE_PHRASE[t]}"
                if area == area:
                    s += f" that contains {_fmt_int(area)} sq ft"
                    s += f" and was built in {int(year)}." if year == year else "."
                else:
                    s += f" built in {int(year)}." if year == year else "."
                sents = [s]
                if bd == bd and ba == ba:
                    sents.append(f"It contains {int(bd)} bedrooms and {ba:g} bathrooms.")
            if h["last_price"][i] == h["last_price"][i]:
                sents.append(f"This home last sold for ${_fmt_int(h['last_price'][i])} in "
                             f"{_MONTHS[h['last_month'][i]]} {h['last_year'][i]}.")
            if t != 4:
                sents.append(f"The Rent Zestimate for this home is ${_fmt_int(h['rent'][i])}/mo.")
            out[i] = seps[i].join(sents[: max(n_sent[i], 1)])
            continue
        word = _TYPE_WORD[t]
        bed = f"{int(bd)}-bedroom " if bd == bd and bd > 0 else ""
        openers = [f'Welcome to this "{adjs[p[0] % len(adjs)]}" {bed}{word} in the heart of {city}!',
                   f"Charming {word} on a quiet, tree-lined street in {h['region'][i]}.",
                   f"Rarely available {word} in {city} — close to parks, shopping, and freeways.",
                   f"Don't miss this {bed}{word}, minutes from {h['elem'][i]}, cafés, and dining."]
        body = [(fixer, avg, remodel)[cond[i]][p[1] % (2 if cond[i] == 1 else 3)]]
        if lot == lot and t in (0, 3, 4) and lot > 6000:
            body.append(f"Generous {_fmt_int(lot)} sq ft lot with room for an ADU, garden, or pool.")
        elif h["garage"][i] == h["garage"][i] and h["garage"][i] > 0:
            body.append(f"{int(h['garage'][i])}-car garage with direct access, plus laundry in the garage.")
        if h["hs_score"][i] == h["hs_score"][i] and h["hs_score"][i] >= 8:
            body.append(f"Top-rated schools ({h['hs'][i]}, rated {int(h['hs_score'][i])}/10).")
        sents = [openers[p[2] % 4]] + body[: p[3] % 3] + [closers[(p[0] >> 8) % len(closers)]]
        out[i] = seps[i].join(sents[: n_sent[i]]) if n_sent[i] > 1 else sents[0]
    return out


def generate(n_train: int, n_test: int, seed: int = 2020) -> pd.DataFrame:
    """All rows (train first, then test) with every column, the price included."""
    rng = np.random.default_rng(seed)
    places = _places(rng)
    n = n_train + n_test

    # Where and when.
    city = rng.choice(len(places["city"]), n, p=places["weight"])
    zip_idx = places["zip_start"][city] + (rng.random(n) * places["n_zip"][city]).astype(int)
    days = np.concatenate([rng.integers(0, 182, n_train), rng.integers(182, 366, n_test)])  # 2020 is a leap year
    type_ = rng.choice(len(_TYPES), n, p=_TYPE_P)
    is_land, is_sf = type_ == 4, type_ == 0
    tier = places["tier"][city]

    # The building.
    area = np.round(_TYPE_AREA[type_] * rng.lognormal(0.0, 0.38, n) * (1 + 0.08 * tier))
    luxury = is_sf & (tier >= 2) & (rng.random(n) < 0.03)  # estates: 4,000-20,000 sq ft
    area[luxury] = np.round(area[luxury] * rng.lognormal(np.log(2.5), 0.4, luxury.sum()))
    area[rng.random(n) < 0.025] = np.nan
    year_mu = np.array([1966, 1986, 1989, 1955, np.nan, 1980, 1975])[type_]
    year_sd = np.array([24, 16, 14, 25, np.nan, 12, 25])[type_]
    year = np.clip(np.round(rng.normal(year_mu, year_sd)), 1880, 2020)
    year[rng.random(n) < 0.03] = np.nan
    bedrooms = np.clip(np.round(area / 560 + rng.normal(0.1, 0.7, n)), 0, 12)
    bedrooms[type_ == 1] = np.clip(bedrooms[type_ == 1], 0, 3)
    bathrooms = np.clip(np.round((0.7 * bedrooms + rng.normal(0.5, 0.5, n)) * 2) / 2, 1, 12)
    bathrooms[is_land | (rng.random(n) < 0.04)] = np.nan
    full_baths = np.floor(bathrooms)
    full_baths[rng.random(n) < 0.2] = np.nan

    lot = np.exp(rng.normal(np.log(np.array([6500, 1, 2400, 7000, 40000, 4000, 6000])[type_]),
                            np.array([0.55, 0, 0.5, 0.5, 1.6, 0.6, 0.9])[type_]))
    complex_lot = (type_ == 1) | ((type_ == 5) & (rng.random(n) < 0.5))
    lot[complex_lot] = rng.lognormal(np.log(120000), 1.0, complex_lot.sum())  # the whole complex / park
    rural = is_sf & (rng.random(n) < 0.015)
    lot[rural] = rng.lognormal(np.log(200000), 1.5, rural.sum())  # acreage, up to tens of millions of sq ft
    lot = np.round(lot)
    lot[(complex_lot & (rng.random(n) < 0.45)) | (rng.random(n) < 0.07)] = np.nan

    garage = rng.choice(5, n, p=[0.12, 0.18, 0.55, 0.1, 0.05]).astype(float)
    garage[type_ == 1] = rng.choice(3, (type_ == 1).sum(), p=[0.35, 0.4, 0.25])
    garage[is_land] = 0
    spaces = garage + rng.choice(4, n, p=[0.55, 0.15, 0.25, 0.05])
    odd = rng.random(n) < 0.0008
    spaces[odd] = rng.integers(10, 60, odd.sum())  # a parking lot typed into the field
    garage[rng.random(n) < 0.04] = np.nan
    spaces[rng.random(n) < 0.03] = np.nan

    # Schools (one of each level, drawn from the zip code's schools).
    school = {}
    for level_name, info in places["schools"].items():
        idx = info["start"][zip_idx] + (rng.random(n) * info["count"][zip_idx]).astype(int)
        miss = rng.random(n) < 0.04
        dist_mu = {"elementary": 0.5, "middle": 1.1, "high": 1.6}[level_name]
        dist = np.round(rng.lognormal(np.log(dist_mu), 0.7, n) * (1 + 3 * is_land), 1)
        score = info["score"][idx].copy()
        score[rng.random(n) < 0.05] = np.nan
        name = info["name"][idx].copy()
        name[miss] = np.nan
        score[miss] = np.nan
        dist[miss] = np.nan
        school[level_name] = (name, score, dist)
    scores = np.column_stack([school[k][1] for k in school]).astype(float)
    known = (~np.isnan(scores)).sum(axis=1)
    mean_score = np.where(known > 0, np.nansum(scores, axis=1) / np.maximum(known, 1), 6.0)

    # The price (log scale).
    condition = rng.choice(3, n, p=[0.12, 0.63, 0.25])  # fixer / average / remodelled
    drift = np.log(1.01) * days / 30.44
    area_f = np.where(np.isnan(area), 1600.0, area)
    year_f = np.where(np.isnan(year), 1970, year)
    year_eff = np.select([year_f < 1930, year_f < 1950, year_f < 1980, year_f < 2005], [0.06, 0.0, -0.08, -0.02],
                         0.12)
    lot_f = np.where(np.isnan(lot), 6000, lot)
    lot_eff = np.where(type_ == 1, 0.0, 0.1 * np.clip(np.log(lot_f / 6500), -1.5, 3.0))
    log_price = (13.55 + 0.75 * np.log(area_f / 1800) + places["level"][city] + places["zip_level"][zip_idx]
                 + _TYPE_EFFECT[type_] + year_eff + 0.05 * (mean_score - 6) + lot_eff
                 + np.array([-0.25, 0.0, 0.1])[condition] + 0.4 * luxury + drift + rng.normal(0, 0.17, n))
    land_price = (11.8 + 0.55 * np.log(lot_f / 10000) + 1.2 * places["level"][city] + drift
                  + rng.normal(0, 0.5, n))
    log_price = np.where(is_land, land_price, log_price)
    price = np.round(np.exp(log_price), -3)
    price = np.maximum(price, 5000.0)

    # Listing, previous sale, tax.
    listed_price = np.round(price * rng.lognormal(0.0, 0.05, n), -3)
    listed_price[rng.random(n) < 0.02] = np.nan
    has_last = rng.random(n) < np.where(is_land, 0.3, 0.58)
    last_t = 2019.99 - rng.gamma(1.6, 5.0, n) % 29.99  # mostly the last decade, none before 1990
    last_date = np.datetime64("1990-01-01", "D") + np.floor((last_t - 1990) * 365.25).astype("timedelta64[D]")
    last_year = last_date.astype("datetime64[Y]").astype(int) + 1970
    last_month = last_date.astype("datetime64[M]").astype(int) % 12
    last_on = np.where(has_last, np.datetime_as_string(last_date, unit="D").astype(object), np.nan)
    hpi = np.interp(last_t, _HPI_YEARS, _HPI)
    last_price = np.round(price / np.exp(drift) * hpi * rng.lognormal(0.0, 0.12, n), -3)
    last_price = np.where(has_last & (rng.random(n) > 0.05), last_price, np.nan)
    years_held = 2019 - last_t
    assessed = np.where(np.isnan(last_price),
                        price * rng.uniform(0.12, 0.7, n),  # long-held: Proposition 13 kept it low
                        np.minimum(np.nan_to_num(last_price) * 1.02 ** years_held, price * 0.95))
    assessed = np.round(assessed * rng.lognormal(0.0, 0.03, n))
    assessed[rng.random(n) < 0.07] = np.nan
    tax = np.round(assessed * rng.uniform(0.011, 0.013, n))
    tax[rng.random(n) < 0.03] = np.nan

    # Text columns.
    streets = np.array(_split(_STREETS), dtype=object)
    number = np.where(is_land & (rng.random(n) < 0.3), 0, np.round(rng.lognormal(6.5, 1.2, n)).astype(int) + 1)
    address = (pd.Series(number).astype(str) + " " + streets[rng.integers(0, len(streets), n)] + " "
               + np.array(_SUFFIXES, dtype=object)[rng.choice(len(_SUFFIXES), n, p=_SUFFIX_P)]).to_numpy(object)
    unit_kind = rng.choice(3, n, p=[0.5, 0.3, 0.2])
    unit_no = rng.integers(1, 40, n)
    unit = np.where(unit_kind == 0, "Apt " + unit_no.astype(str),
                    np.where(unit_kind == 1, "#" + (unit_no * 10 + rng.integers(1, 9, n)).astype(str),
                             "Unit " + np.array(list("ABCDEFGH"))[unit_no % 8]))
    with_unit = ((type_ == 1) & (rng.random(n) < 0.65)) | ((type_ == 2) & (rng.random(n) < 0.2))
    address[with_unit] = address[with_unit] + " " + unit[with_unit].astype(object)
    address[rng.random(n) < 0.004] = "Undisclosed Address"

    city_name = places["city"][city]
    region = city_name.copy()
    hood = rng.random(n) < 0.05
    region[hood] = (np.array(["North", "South", "East", "West", "Downtown", "Old Town"], dtype=object)
                    [rng.integers(0, 6, hood.sum())] + " " + city_name[hood])
    region[rng.random(n) < 0.005] = np.nan

    bed_text = pd.Series(bedrooms).map(lambda b: np.nan if b != b else str(int(b))).to_numpy(object)
    descriptive = rng.random(n) < 0.08
    described = _join_flags(_flags(rng, n, _BEDROOM_P), _BEDROOM_TOKENS)
    bed_text[descriptive] = described[descriptive]
    bed_text[is_land | (rng.random(n) < 0.03)] = np.nan

    lot_out = lot.astype(object)
    acres = ~np.isnan(lot) & (rng.random(n) < 0.01)
    lot_out[acres] = [f"{v / SQFT_PER_ACRE:.2f} Acres" for v in lot[acres]]

    built = ~is_land
    q = pd.Series(log_price).rank(pct=True).to_numpy()[:, None]  # dearer homes list more appliances
    heating_f = _join_flags(_flags(rng, n, _HEATING_P), _HEATING_TOKENS)
    heating_short = np.array(_HEATING_SHORT, dtype=object)[rng.integers(0, len(_HEATING_SHORT), n)]
    heating = np.where(rng.random(n) < 0.6, heating_f, heating_short)
    cooling_f = _join_flags(_flags(rng, n, _COOLING_P), _COOLING_TOKENS, empty="None")
    cooling_short = np.array(_COOLING_SHORT, dtype=object)[rng.integers(0, len(_COOLING_SHORT), n)]
    cooling = np.where(rng.random(n) < 0.5, cooling_f, cooling_short)
    park = _flags(rng, n, [0.08, 0.4, 0.35, 0.0, 0.0, 0.0, 0.3, 0.05, 0.1, 0.15, 0.04, 0.1, 0.05])
    park[:, 3] = garage > 0
    attached = rng.random(n) < 0.75
    park[:, 4] = park[:, 3] & attached
    park[:, 5] = park[:, 3] & ~attached
    park_full = _join_flags(park, _PARKING_TOKENS)
    park_short = _join_flags(park[:, [0, 1, 3, 4, 5]], [_PARKING_TOKENS[i] for i in (0, 1, 3, 4, 5)])
    parking = np.where(rng.random(n) < 0.7, park_full,
                       np.where(spaces == 0, np.array("0 spaces", dtype=object), park_short))
    flooring = _join_flags(_flags(rng, n, _FLOORING_P), _FLOORING_TOKENS)
    appliances = _join_flags(rng.random((n, len(_APPLIANCE_P))) < np.clip(np.array(_APPLIANCE_P) * (0.6 + 0.8 * q),
                                                                              0, 0.97), _APPLIANCE_TOKENS)
    laundry = _join_flags(_flags(rng, n, _LAUNDRY_P), _LAUNDRY_TOKENS)

    def text_col(values, p_missing):
        out = _with_nan(rng, values, p_missing)
        out[~built] = np.nan
        return out

    df = pd.DataFrame({
        "Id": np.arange(n),
        "Address": address,
        "Sold Price": price,
        "Summary": None,
        "Type": np.array(_TYPES, dtype=object)[type_],
        "Year built": pd.array(np.where(is_land, np.nan, year), dtype="Int64"),
        "Heating": text_col(heating, 0.12),
        "Cooling": text_col(cooling, 0.15),
        "Parking": text_col(parking, 0.05),
        "Lot": lot_out,
        "Bedrooms": bed_text,
        "Bathrooms": bathrooms,
        "Full bathrooms": full_baths,
        "Total interior livable area": np.where(is_land, np.nan, area),
        "Total spaces": spaces,
        "Garage spaces": garage,
        "Region": region,
        "Elementary School": school["elementary"][0],
        "Elementary School Score": school["elementary"][1],
        "Elementary School Distance": school["elementary"][2],
        "Middle School": school["middle"][0],
        "Middle School Score": school["middle"][1],
        "Middle School Distance": school["middle"][2],
        "High School": school["high"][0],
        "High School Score": school["high"][1],
        "High School Distance": school["high"][2],
        "Flooring": text_col(flooring, 0.25),
        "Heating features": text_col(heating_f, 0.15),
        "Cooling features": text_col(cooling_f, 0.2),
        "Appliances included": text_col(appliances, 0.25),
        "Laundry features": text_col(laundry, 0.25),
        "Parking features": _with_nan(rng, park_full, 0.08),
        "Tax assessed value": assessed,
        "Annual tax amount": tax,
        "Listed On": _date_strings("2020-01-01", days),
        "Listed Price": listed_price,
        "Last Sold On": last_on,
        "Last Sold Price": last_price,
        "City": city_name,
        "Zip": places["zip"][zip_idx],
        "State": "CA",
    })
    rent = np.round(2.2 * price ** 0.55 * rng.lognormal(0.0, 0.15, n), -1)  # noisy: no copy of the price
    df["Summary"] = _summaries(rng, {
        "type": type_, "address": address, "city": city_name, "region": np.where(pd.isna(region), city_name, region),
        "zip": places["zip"][zip_idx], "area": np.where(is_land, np.nan, area), "year": year, "bedrooms": bedrooms,
        "bathrooms": bathrooms, "lot_sqft": lot, "rent": rent, "condition": condition, "garage": garage,
        "last_price": last_price, "last_year": last_year, "last_month": last_month,
        "elem": np.where(pd.isna(school["elementary"][0]), "local schools", school["elementary"][0]),
        "hs": school["high"][0], "hs_score": school["high"][1],
    })
    return df[KAGGLE_COLUMNS]


def build(out_dir: Path, size: str = "small", seed: int = 2020) -> Path:
    """Write train.csv, test.csv, sample_submission.csv, solution.csv and data_description.txt."""
    n_train, n_test = SIZES[size]
    df = generate(n_train, n_test, seed)
    train, test = df.iloc[:n_train], df.iloc[n_train:]
    out_dir = Path(out_dir)
    write_csv(out_dir / "train.csv", train)
    write_csv(out_dir / "test.csv", test.drop(columns=[TARGET]))
    write_csv(out_dir / "sample_submission.csv",
              pd.DataFrame({"Id": test["Id"], TARGET: float(train[TARGET].median())}))
    write_csv(out_dir / "solution.csv", test[["Id", TARGET]])
    write_text(out_dir / "data_description.txt",
               f"Synthetic California house sales ({size}: {n_train} train / {n_test} test rows, seed {seed}) in "
               "the layout of the D2L 'California House Prices' Kaggle competition.\n"
               "Train houses were listed in 2020-01..2020-06, test houses in 2020-07..2020-12; prices drift "
               "up ~1% a month.\nAbout 1% of Lot values are text in acres ('0.25 Acres'; 1 acre = 43,560 sq ft); "
               "the rest are square feet.\n"
               "solution.csv holds the test prices: only local scoring reads it.\n")
    return out_dir
