"""Text normalisation before phonemes: digits, symbols and abbreviations rewritten as words.

Why by hand: no well-kept multilingual normaliser on PyPI fits an offline engine that must be
light. NVIDIA's ``nemo_text_processing`` (WFST grammars, the reference) needs Pynini/OpenFst and
compiles its grammars on first use; ``wetext`` runs WeTextProcessing's precompiled WFSTs on
kaldifst (14 languages in 0.2 but no Italian; 0.1 had Chinese, English, Japanese, Korean) and its
README read "$12.50" as "twelve point five dollars"; ``kitten-text-processing`` (NeMo's grammar
data on the standard library) is a first 0.1.0 release. So the rules below are regular
expressions written here, and the number words come from ``num2words`` (small, pure Python).

One pure function, :func:`normalize`, shared by every engine: it never raises, keeps sentence
punctuation (``. ! ? , ; :``) so sentence splitting and prosody still work, leaves URLs, e-mail
addresses and @handles untouched, and compiles its patterns once per language.
"""

from __future__ import annotations

import calendar
import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from num2words import num2words

__all__ = ["SUPPORTED_LANGUAGES", "normalize"]

SUPPORTED_LANGUAGES: frozenset[str] = frozenset({"en", "es", "fr", "it", "pt", "de"})
"""ISO 639-1 codes whose numbers, dates, money and abbreviations are rewritten."""

_MAX_WORDED = 10**15  # past this a number is read digit by digit
_UPPER_START = re.compile(r"[\"'“‘«(\[]*([^\W\d_])")


# --------------------------------------------------------------------------- language data


@dataclass(frozen=True)
class _Noun:
    """A counted noun: singular, plural and grammatical gender (for "una libra", "une livre")."""

    one: str
    many: str
    feminine: bool = False


@dataclass(frozen=True)
class _Currency:
    main: _Noun
    sub: _Noun | None  # cents; None for the yen


@dataclass(frozen=True)
class _Lang:
    """Everything that differs between the languages handled: words, formats, rules to run."""

    base: str
    n2w: str  # num2words code
    point_decimal: bool  # "1,234.5" (True) or "1.234,5" (False)
    day_first: bool
    keep_and: bool = False  # en-GB "one hundred and five"
    point: str = "point"
    frac_as_number: bool = False  # "tres coma catorce" rather than "tres coma uno cuatro"
    minus: str = "minus"
    plus: str = "plus"
    and_sign: str = "and"
    to: str = "to"
    percent: str = "percent"
    number: str = "number"
    money_and: str = "and"
    of_scale: str = ""  # "un millón de euros"
    degree: _Noun = _Noun("degree", "degrees")
    currencies: dict[str, _Currency] = field(default_factory=dict)
    months: tuple[str, ...] = ()
    units: dict[str, _Noun] = field(default_factory=dict)
    scales: dict[str, str] = field(default_factory=dict)  # "bn" -> "billion" after money
    abbreviations: tuple[tuple[str, str, str], ...] = ()  # (pattern, words, kind)
    hours: tuple[_Noun, str, str] | None = None  # (hour noun, on-the-hour word, joiner)


def _c(main: tuple[str, str, bool], sub: tuple[str, str, bool] | None) -> _Currency:
    return _Currency(_Noun(*main), _Noun(*sub) if sub else None)


_CURRENCY_SYMBOLS = {"US$": "USD", "R$": "BRL", "$": "USD", "€": "EUR", "£": "GBP", "¥": "JPY"}
_CURRENCY_CODES = ("USD", "EUR", "GBP", "JPY", "BRL")

_EN_METRIC = {
    "km": ("kilometer", "kilometers"),
    "m": ("meter", "meters"),
    "cm": ("centimeter", "centimeters"),
    "mm": ("millimeter", "millimeters"),
    "km/h": ("kilometer per hour", "kilometers per hour"),
    "m/s": ("meter per second", "meters per second"),
    "l": ("liter", "liters"),
    "L": ("liter", "liters"),
    "ml": ("milliliter", "milliliters"),
    "mL": ("milliliter", "milliliters"),
}
_EN_UNITS = {
    "kg": ("kilogram", "kilograms"),
    "g": ("gram", "grams"),
    "mg": ("milligram", "milligrams"),
    "kph": ("kilometer per hour", "kilometers per hour"),
    "mph": ("mile per hour", "miles per hour"),
    "mi": ("mile", "miles"),
    "ft": ("foot", "feet"),
    "lb": ("pound", "pounds"),
    "lbs": ("pound", "pounds"),
    "oz": ("ounce", "ounces"),
    "h": ("hour", "hours"),
    "hr": ("hour", "hours"),
    "hrs": ("hour", "hours"),
    "min": ("minute", "minutes"),
    "ms": ("millisecond", "milliseconds"),
    "Hz": ("hertz", "hertz"),
    "kHz": ("kilohertz", "kilohertz"),
    "MHz": ("megahertz", "megahertz"),
    "GHz": ("gigahertz", "gigahertz"),
    "kB": ("kilobyte", "kilobytes"),
    "KB": ("kilobyte", "kilobytes"),
    "MB": ("megabyte", "megabytes"),
    "GB": ("gigabyte", "gigabytes"),
    "TB": ("terabyte", "terabytes"),
    "W": ("watt", "watts"),
    "kW": ("kilowatt", "kilowatts"),
    "kWh": ("kilowatt hour", "kilowatt hours"),
}


def _en_units(british: bool) -> dict[str, _Noun]:
    units = {k: _Noun(*v) for k, v in _EN_UNITS.items()}
    for key, (one, many) in _EN_METRIC.items():
        if british:
            one, many = (w.replace("meter", "metre").replace("liter", "litre") for w in (one, many))
        units[key] = _Noun(one, many)
    return units


def _metric(words: dict[str, tuple[str, str]]) -> dict[str, _Noun]:
    units = {k: _Noun(*v) for k, v in words.items()}
    units["L"] = units["l"]
    return units


_EN_CURRENCIES = {
    "USD": _c(("dollar", "dollars", False), ("cent", "cents", False)),
    "EUR": _c(("euro", "euros", False), ("cent", "cents", False)),
    "GBP": _c(("pound", "pounds", False), ("penny", "pence", False)),
    "JPY": _c(("yen", "yen", False), None),
    "BRL": _c(("real", "reais", False), ("centavo", "centavos", False)),
}
_EN_MONTHS = (
    "January February March April May June July August September October November December"
).split()
_EN_ABBREVIATIONS = (
    (r"Mr\.?", "Mister", "title"),
    (r"Mrs\.?", "Missus", "title"),
    (r"Ms\.?", "Miz", "title"),
    (r"Prof\.", "Professor", "title"),
    (r"Mt\.?", "Mount", "title"),
    (r"Jr\.?", "Junior", "final"),
    (r"Sr\.?", "Senior", "final"),
    (r"Inc\.", "Incorporated", "final"),
    (r"Ltd\.", "Limited", "final"),
    (r"Corp\.", "Corporation", "final"),
    (r"Ave\.", "Avenue", "final"),
    (r"Blvd\.", "Boulevard", "final"),
    (r"etc\.", "et cetera", "final"),
    (r"e\.\s?g\.", "for example", "inline"),
    (r"i\.\s?e\.", "that is", "inline"),
    (r"vs\.?", "versus", "inline"),
    (r"approx\.", "approximately", "inline"),
    (r"cf\.", "compare", "inline"),
    (r"[Ff]ig\.", "figure", "numbered"),
    (r"[Ff]igs\.", "figures", "numbered"),
    (r"[Nn]o\.", "number", "numbered"),
    (r"[Nn]os\.", "numbers", "numbered"),
)


def _english(region: str) -> _Lang:
    british = region in {"gb", "uk", "au", "nz", "ie", "za", "in"}
    return _Lang(
        base="en",
        n2w="en",
        point_decimal=True,
        day_first=british,
        keep_and=british,
        currencies=_EN_CURRENCIES,
        months=tuple(_EN_MONTHS),
        units=_en_units(british),
        scales={
            "thousand": "thousand",
            "million": "million",
            "billion": "billion",
            "trillion": "trillion",
            "k": "thousand",
            "K": "thousand",
            "m": "million",
            "M": "million",
            "mn": "million",
            "b": "billion",
            "B": "billion",
            "bn": "billion",
            "tn": "trillion",
        },
        abbreviations=_EN_ABBREVIATIONS,
    )


def _spanish(region: str) -> _Lang:
    return _Lang(
        base="es",
        n2w="es",
        point_decimal=region in {"mx", "us", "pr", "do", "gt", "hn", "ni", "pa", "sv", "cu"},
        day_first=True,
        point="coma"
        if region not in {"mx", "us", "pr", "do", "gt", "hn", "ni", "pa", "sv", "cu"}
        else "punto",
        frac_as_number=True,
        minus="menos",
        plus="más",
        and_sign="y",
        to="a",
        percent="por ciento",
        number="número",
        money_and="con",
        of_scale="de",
        degree=_Noun("grado", "grados"),
        currencies={
            "USD": _c(("dólar", "dólares", False), ("centavo", "centavos", False)),
            "EUR": _c(("euro", "euros", False), ("céntimo", "céntimos", False)),
            "GBP": _c(("libra", "libras", True), ("penique", "peniques", False)),
            "JPY": _c(("yen", "yenes", False), None),
            "BRL": _c(("real", "reales", False), ("centavo", "centavos", False)),
        },
        months=tuple(
            "enero febrero marzo abril mayo junio julio agosto septiembre octubre noviembre "
            "diciembre".split()
        ),
        units=_metric(
            {
                "km": ("kilómetro", "kilómetros"),
                "m": ("metro", "metros"),
                "cm": ("centímetro", "centímetros"),
                "mm": ("milímetro", "milímetros"),
                "kg": ("kilogramo", "kilogramos"),
                "g": ("gramo", "gramos"),
                "mg": ("miligramo", "miligramos"),
                "l": ("litro", "litros"),
                "ml": ("mililitro", "mililitros"),
                "km/h": ("kilómetro por hora", "kilómetros por hora"),
            }
        ),
        scales={"mil": "mil", "millón": "millón", "millones": "millones", "billón": "billón"},
        abbreviations=(
            (r"Sr\.?", "señor", "title"),
            (r"Sra\.?", "señora", "title"),
            (r"Srta\.?", "señorita", "title"),
            (r"Sres\.?", "señores", "title"),
            (r"Dr\.?", "doctor", "title"),
            (r"Dra\.?", "doctora", "title"),
            (r"Dña\.?", "doña", "title"),
            (r"Prof\.", "profesor", "title"),
            (r"Ud\.", "usted", "inline"),
            (r"Uds\.", "ustedes", "inline"),
            (r"etc\.", "etcétera", "final"),
            (r"EE\.\s?UU\.", "Estados Unidos", "final"),
            (r"p\.\s?ej\.", "por ejemplo", "inline"),
            (r"aprox\.", "aproximadamente", "inline"),
            (r"[Nn]úm\.", "número", "numbered"),
            (r"[Nn]\.?[º°]", "número", "numbered"),
            (r"[Pp]ág\.", "página", "numbered"),
            (r"[Pp]ágs\.", "páginas", "numbered"),
        ),
        hours=(_Noun("hora", "horas", True), "en punto", "y"),
    )


def _french(region: str) -> _Lang:
    return _Lang(
        base="fr",
        n2w={"be": "fr_BE", "ch": "fr_CH"}.get(region, "fr"),
        point_decimal=False,
        day_first=True,
        point="virgule",
        frac_as_number=True,
        minus="moins",
        plus="plus",
        and_sign="et",
        to="à",
        percent="pour cent",
        number="numéro",
        money_and="et",
        of_scale="de",
        degree=_Noun("degré", "degrés"),
        currencies={
            "USD": _c(("dollar", "dollars", False), ("cent", "cents", False)),
            "EUR": _c(("euro", "euros", False), ("centime", "centimes", False)),
            "GBP": _c(("livre", "livres", True), ("penny", "pence", False)),
            "JPY": _c(("yen", "yens", False), None),
            "BRL": _c(("réal", "réais", False), ("centavo", "centavos", False)),
        },
        months=tuple(
            "janvier février mars avril mai juin juillet août septembre octobre novembre "
            "décembre".split()
        ),
        units=_metric(
            {
                "km": ("kilomètre", "kilomètres"),
                "m": ("mètre", "mètres"),
                "cm": ("centimètre", "centimètres"),
                "mm": ("millimètre", "millimètres"),
                "kg": ("kilogramme", "kilogrammes"),
                "g": ("gramme", "grammes"),
                "mg": ("milligramme", "milligrammes"),
                "l": ("litre", "litres"),
                "ml": ("millilitre", "millilitres"),
                "km/h": ("kilomètre à l'heure", "kilomètres à l'heure"),
            }
        ),
        scales={
            "mille": "mille",
            "million": "million",
            "millions": "millions",
            "milliard": "milliard",
            "milliards": "milliards",
        },
        abbreviations=(
            (r"M\.", "Monsieur", "title"),
            (r"MM\.", "Messieurs", "title"),
            (r"Mme\.?", "Madame", "title"),
            (r"Mmes\.?", "Mesdames", "title"),
            (r"Mlle\.?", "Mademoiselle", "title"),
            (r"Mlles\.?", "Mesdemoiselles", "title"),
            (r"Dr\.?", "docteur", "title"),
            (r"St(?=-[^\W\d_])", "Saint", "inline"),
            (r"Ste(?=-[^\W\d_])", "Sainte", "inline"),
            (r"etc\.", "et cetera", "final"),
            (r"p\.\s?ex\.", "par exemple", "inline"),
            (r"c\.-à-d\.", "c'est-à-dire", "inline"),
            (r"[Nn][°º]", "numéro", "numbered"),
        ),
        hours=(_Noun("heure", "heures", True), "", ""),
    )


def _italian(region: str) -> _Lang:
    return _Lang(
        base="it",
        n2w="it",
        point_decimal=False,
        day_first=True,
        point="virgola",
        frac_as_number=True,
        minus="meno",
        plus="più",
        and_sign="e",
        to="a",
        percent="per cento",
        number="numero",
        money_and="e",
        of_scale="di",
        degree=_Noun("grado", "gradi"),
        currencies={
            "USD": _c(("dollaro", "dollari", False), ("centesimo", "centesimi", False)),
            "EUR": _c(("euro", "euro", False), ("centesimo", "centesimi", False)),
            "GBP": _c(("sterlina", "sterline", True), ("penny", "pence", False)),
            "JPY": _c(("yen", "yen", False), None),
            "BRL": _c(("real", "real", False), ("centavo", "centavos", False)),
        },
        months=tuple(
            "gennaio febbraio marzo aprile maggio giugno luglio agosto settembre ottobre "
            "novembre dicembre".split()
        ),
        units=_metric(
            {
                "km": ("chilometro", "chilometri"),
                "m": ("metro", "metri"),
                "cm": ("centimetro", "centimetri"),
                "mm": ("millimetro", "millimetri"),
                "kg": ("chilogrammo", "chilogrammi"),
                "g": ("grammo", "grammi"),
                "mg": ("milligrammo", "milligrammi"),
                "l": ("litro", "litri"),
                "ml": ("millilitro", "millilitri"),
                "km/h": ("chilometro orario", "chilometri orari"),
            }
        ),
        scales={
            "mila": "mila",
            "milione": "milione",
            "milioni": "milioni",
            "miliardo": "miliardo",
            "miliardi": "miliardi",
        },
        abbreviations=(
            (r"Sig\.ra", "signora", "title"),
            (r"Sig\.na", "signorina", "title"),
            (r"Sig\.", "signor", "title"),
            (r"Dott\.ssa", "dottoressa", "title"),
            (r"Dott\.", "dottor", "title"),
            (r"Prof\.ssa", "professoressa", "title"),
            (r"Prof\.", "professor", "title"),
            (r"Ing\.", "ingegner", "title"),
            (r"Avv\.", "avvocato", "title"),
            (r"ecc\.", "eccetera", "final"),
            (r"etc\.", "eccetera", "final"),
            (r"p\.\s?es\.", "per esempio", "inline"),
            (r"ad es\.", "ad esempio", "inline"),
            (r"[Nn][°º]", "numero", "numbered"),
        ),
        hours=(_Noun("ora", "ore", True), "in punto", "e"),
    )


def _portuguese(region: str) -> _Lang:
    brazil = region == "br"
    cents = ("centavo", "centavos", False) if brazil else ("cêntimo", "cêntimos", False)
    return _Lang(
        base="pt",
        n2w="pt_BR" if brazil else "pt",
        point_decimal=False,
        day_first=True,
        point="vírgula",
        frac_as_number=True,
        minus="menos",
        plus="mais",
        and_sign="e",
        to="a",
        percent="por cento",
        number="número",
        money_and="e",
        of_scale="de",
        degree=_Noun("grau", "graus"),
        currencies={
            "USD": _c(("dólar", "dólares", False), cents),
            "EUR": _c(("euro", "euros", False), cents),
            "GBP": _c(("libra", "libras", True), ("péni", "pence", False)),
            "JPY": _c(("iene", "ienes", False), None),
            "BRL": _c(("real", "reais", False), ("centavo", "centavos", False)),
        },
        months=tuple(
            "janeiro fevereiro março abril maio junho julho agosto setembro outubro novembro "
            "dezembro".split()
        ),
        units=_metric(
            {
                "km": ("quilômetro", "quilômetros") if brazil else ("quilómetro", "quilómetros"),
                "m": ("metro", "metros"),
                "cm": ("centímetro", "centímetros"),
                "mm": ("milímetro", "milímetros"),
                "kg": ("quilograma", "quilogramas"),
                "g": ("grama", "gramas"),
                "mg": ("miligrama", "miligramas"),
                "l": ("litro", "litros"),
                "ml": ("mililitro", "mililitros"),
                "km/h": ("quilômetro por hora", "quilômetros por hora")
                if brazil
                else ("quilómetro por hora", "quilómetros por hora"),
            }
        ),
        scales={
            "mil": "mil",
            "milhão": "milhão",
            "milhões": "milhões",
            "bilhão": "bilhão",
            "bilhões": "bilhões",
        },
        abbreviations=(
            (r"Sr\.?", "senhor", "title"),
            (r"Sra\.?", "senhora", "title"),
            (r"Srta\.?", "senhorita", "title"),
            (r"Dr\.?", "doutor", "title"),
            (r"Dra\.?", "doutora", "title"),
            (r"Prof\.", "professor", "title"),
            (r"Profa\.", "professora", "title"),
            (r"etc\.", "etcétera", "final"),
            (r"p\.\s?ex\.", "por exemplo", "inline"),
            (r"aprox\.", "aproximadamente", "inline"),
            (r"[Nn]\.?[º°]", "número", "numbered"),
            (r"[Pp]ág\.", "página", "numbered"),
        ),
        hours=(_Noun("hora", "horas", True), "em ponto", "e"),
    )


def _german(region: str) -> _Lang:
    return _Lang(
        base="de",
        n2w="de",
        point_decimal=False,
        day_first=True,
        point="Komma",
        minus="minus",
        plus="plus",
        and_sign="und",
        to="bis",
        percent="Prozent",
        number="Nummer",
        money_and="und",
        degree=_Noun("Grad", "Grad"),
        currencies={
            "USD": _c(("Dollar", "Dollar", False), ("Cent", "Cent", False)),
            "EUR": _c(("Euro", "Euro", False), ("Cent", "Cent", False)),
            "GBP": _c(("Pfund", "Pfund", False), ("Penny", "Pence", False)),
            "JPY": _c(("Yen", "Yen", False), None),
            "BRL": _c(("Real", "Real", False), ("Centavo", "Centavos", False)),
        },
        months=tuple(
            "Januar Februar März April Mai Juni Juli August September Oktober November "
            "Dezember".split()
        ),
        units=_metric(
            {
                "km": ("Kilometer", "Kilometer"),
                "m": ("Meter", "Meter"),
                "cm": ("Zentimeter", "Zentimeter"),
                "mm": ("Millimeter", "Millimeter"),
                "kg": ("Kilogramm", "Kilogramm"),
                "g": ("Gramm", "Gramm"),
                "mg": ("Milligramm", "Milligramm"),
                "l": ("Liter", "Liter"),
                "ml": ("Milliliter", "Milliliter"),
                "km/h": ("Kilometer pro Stunde", "Kilometer pro Stunde"),
            }
        ),
        scales={
            "Tausend": "Tausend",
            "Million": "Million",
            "Millionen": "Millionen",
            "Mio.": "Millionen",
            "Milliarde": "Milliarde",
            "Milliarden": "Milliarden",
            "Mrd.": "Milliarden",
        },
        abbreviations=(
            (r"Dr\.", "Doktor", "title"),
            (r"Prof\.", "Professor", "title"),
            (r"Hr\.", "Herr", "title"),
            (r"Hrn\.", "Herrn", "title"),
            (r"usw\.", "und so weiter", "final"),
            (r"etc\.", "et cetera", "final"),
            (r"u\.\s?a\.", "unter anderem", "final"),
            (r"Str\.", "Straße", "final"),
            (r"z\.\s?B\.", "zum Beispiel", "inline"),
            (r"d\.\s?h\.", "das heißt", "inline"),
            (r"bzw\.", "beziehungsweise", "inline"),
            (r"ca\.", "circa", "inline"),
            (r"evtl\.", "eventuell", "inline"),
            (r"ggf\.", "gegebenenfalls", "inline"),
            (r"inkl\.", "inklusive", "inline"),
            (r"vgl\.", "vergleiche", "inline"),
            (r"u\.\s?U\.", "unter Umständen", "inline"),
            (r"Nr\.", "Nummer", "numbered"),
            (r"S\.", "Seite", "numbered"),
            (r"Abb\.", "Abbildung", "numbered"),
            (r"Tel\.", "Telefon", "inline"),
        ),
        hours=(_Noun("Uhr", "Uhr"), "", ""),
    )


_BUILDERS: dict[str, Callable[[str], _Lang]] = {
    "en": _english,
    "es": _spanish,
    "fr": _french,
    "it": _italian,
    "pt": _portuguese,
    "de": _german,
}


# --------------------------------------------------------------------------- number words


def _n2w(value: int, lang: _Lang, to: str = "cardinal") -> str:
    """num2words without its commas (they would make pauses) and, in US English, without "and"."""
    return _words(value, lang.n2w, lang.base, lang.keep_and, to)


@functools.lru_cache(maxsize=4096)
def _words(value: int, code: str, base: str, keep_and: bool, to: str) -> str:
    if to != "cardinal" and not 0 < value < _MAX_WORDED:
        raise ValueError(f"no {to} for {value}")  # the rule leaves its text as written
    words = num2words(value, lang=code, to=to).replace(",", "")
    if not words.strip():
        raise ValueError(f"num2words said nothing for {value}")
    if base == "en" and not keep_and:
        words = words.replace(" and ", " ")
    return _fix_n2w(words, base, to)


def _fix_n2w(words: str, base: str, to: str) -> str:
    """Mend num2words' known slips: "veintiuno mil", "ventunomila", "quatre-vingtsième"."""
    if base == "es":
        words = re.sub(r"\b(veinti)?uno(?= mil)", lambda m: "veintiún" if m[1] else "un", words)
        words = re.sub(r"(?<=\w) y uno(?= mil)", " y un", words)
        words = re.sub(r"décimo(?=\w)", "decimo", words)
    elif base == "it":
        words = words.replace("unomila", "unmila").replace("centouno", "centuno")
    elif base == "fr":
        words = words.replace("vingtsième", "vingtième").replace("centsième", "centième")
        if to == "cardinal" and words.endswith("quatre-vingt"):
            words += "s"  # fr_BE says "quatre-vingt" for 80
    return words


def _digits(text: str, lang: _Lang) -> str:
    """Digits one by one: zip codes, long fractions, numbers too long to say."""
    return " ".join(_n2w(int(d), lang) for d in text if d.isdigit())


def _cardinal(digits: str, lang: _Lang) -> str:
    """An unsigned run of digits as words; a leading zero or a huge value is read digit by digit."""
    if len(digits) > 1 and digits.startswith("0"):
        return _digits(digits, lang)
    value = int(digits)
    if value >= _MAX_WORDED:
        return _digits(digits, lang)
    return _n2w(value, lang)


def _fraction(frac: str, lang: _Lang) -> str:
    if lang.frac_as_number and len(frac) <= 2 and not frac.startswith("0"):
        return _n2w(int(frac), lang)
    return _digits(frac, lang)


def _number(whole: str, frac: str | None, lang: _Lang) -> str:
    """Digits (separators already removed) and an optional fraction, as words."""
    words = _cardinal(whole or "0", lang)
    if frac:
        words += f" {lang.point} {_fraction(frac, lang)}"
    return words


def _before_noun(words: str, lang: _Lang, feminine: bool) -> str:
    """Make a number word agree with the noun after it: "un dólar", "una libra", "ein Euro"."""
    base = lang.base
    if base == "es":
        if feminine:
            words = re.sub(r"uno$", "una", words)
            return re.sub(r"ientos\b", "ientas", words)
        return re.sub(r"(veinti)?uno$", lambda m: "veintiún" if m[1] else "un", words)
    if base == "it":
        if feminine:
            return re.sub(r"^uno$", "una", words)
        return re.sub(r"uno$", "un", words)
    if base == "pt" and feminine:
        words = re.sub(r"\bum$", "uma", words)
        words = re.sub(r"\bdois$", "duas", words)
        return re.sub(r"entos\b", "entas", words)
    if base == "fr" and feminine:
        return re.sub(r"\bun$", "une", words)
    if base == "de":
        return re.sub(r"eins$", "eine" if feminine else "ein", words)
    return words


def _counted(
    whole: str, frac: str | None, noun: _Noun, lang: _Lang, scale: str | None = None
) -> str:
    """A number and its noun in agreement: "one dollar", "dos libras", "un millón de euros"."""
    words = _number(whole, frac, lang)
    one = not frac and not scale and whole.lstrip("0") == "1"
    if lang.base == "fr" and not scale and frac and whole.lstrip("0") in {"", "1"}:
        one = True  # French keeps the singular below two: "1,5 kilomètre"
    if not frac and not scale:
        words = _before_noun(words, lang, noun.feminine)
    if scale:
        if not frac:  # "eine Million", "un millón"
            words = _before_noun(words, lang, lang.base == "de" and scale.startswith("Milli"))
        words = f"{words} {scale}"
    name = noun.one if one else noun.many
    if lang.of_scale and re.search(r"(milh?[ãaoi]\w*|mill\w*|milliards?|bilh\w*|billón)$", words):
        if lang.base == "fr" and name[:1].lower() in "aeiouéèêh":
            return f"{words} d'{name}"
        return f"{words} {lang.of_scale} {name}"
    return f"{words} {name}"


# --------------------------------------------------------------------------- patterns


def _int_pattern(lang: _Lang) -> str:
    if lang.point_decimal:
        return r"\d{1,3}(?:,\d{3})+|\d{1,3}(?: \d{3})+|\d+"
    return r"\d{1,3}(?:\.\d{3})+|\d{1,3}(?: \d{3})+|\d+"


def _num_pattern(lang: _Lang, name: str, cents: bool = False) -> str:
    """One number with named parts ``{name}_i`` (integer) and ``{name}_f`` (fraction).

    ``cents``: a point-decimal language also reads "23,50 €" (a comma and two digits before a
    currency) as a decimal.
    """
    decimal = r"\." if lang.point_decimal else r"[,.]"
    if cents and lang.point_decimal:
        decimal = r"(?:\.|,(?=\d\d(?!\d)))"
    return rf"(?P<{name}_i>{_int_pattern(lang)})(?:{decimal}(?P<{name}_f>\d+))?"


_START = r"(?<![\w])(?<!\d[.,/:-])(?<![^\W\d_]\.)"
_END = r"(?![\w]|[.,/:-]\d)"
_SIGN = r"(?:(?<![^\s(\[{\"'“‘«¿¡])(?P<sign>[-−+]))?"


def _parts(m: re.Match[str], name: str) -> tuple[str, str | None]:
    whole = re.sub(r"[^\d]", "", m[f"{name}_i"] or "")
    return whole, m[f"{name}_f"]


def _signed(m: re.Match[str], lang: _Lang, words: str) -> str:
    sign = m.groupdict().get("sign")
    if sign in ("-", "−"):
        return f"{lang.minus} {words}"
    if sign == "+":
        return f"{lang.plus} {words}"
    return words


# --------------------------------------------------------------------------- context helpers


_WINDOW = 80  # characters of context a rule looks at, so long texts stay linear


def _before(text: str, start: int) -> str:
    return text[max(0, start - _WINDOW) : start]


def _after(text: str, end: int) -> str:
    return text[end : end + _WINDOW]


def _at_sentence_start(text: str, start: int) -> bool:
    before = _before(text, start).rstrip(" \t").rstrip("\"'“‘«([{¿¡")
    return not before or before[-1] in ".!?…\n"


def _at_sentence_end(text: str, end: int) -> bool:
    """Whether the full stop of an abbreviation ending at ``end`` also ends the sentence."""
    rest = _after(text, end)
    if not rest.strip() or re.match(r"[ \t]*\n", rest):
        return True
    if not rest[0].isspace():
        return False
    m = _UPPER_START.match(rest.lstrip())
    return m is not None and m.group(1).isupper()


def _next_capitalised(text: str, end: int) -> bool:
    rest = _after(text, end)
    if not rest[:1].isspace():
        return False
    m = _UPPER_START.match(rest.lstrip(" \t"))
    return m is not None and m.group(1).isupper()


def _previous_is_name(text: str, start: int) -> bool:
    """A capitalised word (not the first of its sentence) or a street number just before."""
    offset = max(0, start - _WINDOW)
    m = re.search(r"(\S+)[ \t]+$", text[offset:start])
    if not m:
        return False
    word = m[1]
    if re.fullmatch(r"\d+(?:st|nd|rd|th)?", word):
        return True
    first = _at_sentence_start(text, offset + m.start(1))
    return word[0].isupper() and word[-1].isalnum() and not first


def _capitalise_at_start(words: str, text: str, start: int) -> str:
    if text[start : start + 1].isupper() and _at_sentence_start(text, start):
        return words[:1].upper() + words[1:]
    return words


def _full_stop_kept(text: str, end: int, final: bool) -> str:
    rest = _after(text, end)
    if not rest.strip() or re.match(r"[ \t]*\n", rest):
        return "."
    return "." if final and _at_sentence_end(text, end) else ""


# --------------------------------------------------------------------------- rules

_Replace = Callable[[re.Match[str]], str]


@dataclass(frozen=True)
class _Rule:
    pattern: re.Pattern[str]
    replace: _Replace


def _safe(replace: _Replace) -> _Replace:
    """A rule that fails on odd input leaves the text it matched as it was."""

    def run(m: re.Match[str]) -> str:
        try:
            return replace(m)
        except Exception:
            return m[0]

    return run


def _abbreviation_rules(lang: _Lang) -> list[_Rule]:
    rules: list[_Rule] = []
    entries = sorted(lang.abbreviations, key=lambda e: -len(e[0]))
    for pattern, words, kind in entries:

        def replace(m: re.Match[str], words: str = words, kind: str = kind) -> str:
            text, start, end = m.string, m.start(), m.end()
            dotted = m[0].endswith(".")
            glue = " " if text[end : end + 1].isalnum() else ""  # "No.5", "approx.5"
            if kind == "title":
                letters = sum(c.isalpha() for c in m[0])
                if not _next_capitalised(text, end) and not (dotted and letters > 1):
                    return m[0]
                return _capitalise_at_start(words, text, start)
            if kind == "numbered":
                if not re.match(r"[ \t]?\d", _after(text, end)):
                    return m[0]
                return _capitalise_at_start(words, text, start) + glue
            out = _capitalise_at_start(words, text, start)
            return out + (_full_stop_kept(text, end, kind == "final") if dotted else "") + glue

        tail = r"(?![\w])" if not pattern.endswith(".") and not pattern.endswith(")") else ""
        rules.append(_Rule(re.compile(rf"(?<![\w.]){pattern}{tail}"), _safe(replace)))
    if lang.base == "en":
        rules.insert(0, _Rule(re.compile(r"(?<![\w.])(St|Dr)(\.|(?![\w]))"), _safe(_saint_street)))
    return rules


def _saint_street(m: re.Match[str]) -> str:
    """ "St. Louis" is a saint, "Baker St." a street; "Dr. Smith" a doctor, "Mulholland Dr." a drive."""
    text, start, end = m.string, m.start(), m.end()
    after_name = _previous_is_name(text, start)
    before_name = _next_capitalised(text, end)
    if m[1] == "St":
        person = not after_name and before_name
        words = "Saint" if person else "Street"
    else:
        person = not (after_name and not before_name)
        words = "Doctor" if person else "Drive"
    if not m[2] and not (after_name or before_name):
        return m[0]  # a bare "St" or "Dr" with no name beside it
    if person:
        return words + ("." if m[2] and not _after(text, end).strip() else "")
    return words + (_full_stop_kept(text, end, True) if m[2] else "")


def _symbol_rules(lang: _Lang) -> list[_Rule]:
    """ "&" and "#5" first: what they become does not depend on the words around them."""
    return [
        _Rule(re.compile(r"[ \t]*&[ \t]*"), lambda m: f" {lang.and_sign} "),
        _Rule(re.compile(r"#[ \t]?(?=\d)"), lambda m: f"{lang.number} "),
    ]


def _plus_rules(lang: _Lang) -> list[_Rule]:
    """ "A + B" last, once the numbers beside it are words (so a second pass finds nothing)."""
    return [_Rule(re.compile(r"(?<=[\w)])[ \t]*\+[ \t]*(?=[\w(])"), lambda m: f" {lang.plus} ")]


def _month_index(name: str, lang: _Lang) -> int:
    key = name.rstrip(".").lower()
    for i, month in enumerate(lang.months):
        if month.lower() == key or (
            lang.base == "en" and len(key) >= 3 and month.lower()[: len(key)] == key
        ):
            return i + 1
    if key == "setiembre":
        return 9
    raise ValueError(name)


def _year_words(year: str, lang: _Lang) -> str:
    """A year as people say it: "twenty twenty-four", "neunzehnhundertneunundneunzig"."""
    if len(year) == 2:
        if lang.base == "en" and year.startswith("0"):
            return f"oh {_n2w(int(year[1]), lang)}"
        return _cardinal(year, lang)
    value = int(year)
    if lang.base in ("en", "de") and 1000 <= value <= 9999:
        return _n2w(value, lang, to="year")
    return _cardinal(year, lang)


def _say_date(day: int, month: int, year: str | None, lang: _Lang, text: str, start: int) -> str:
    name = lang.months[month - 1]
    year_words = _year_words(year, lang) if year else ""
    base = lang.base
    if base == "en":
        ordinal = _n2w(day, lang, to="ordinal")
        if lang.day_first:
            the = "" if re.search(r"\bthe[ \t]+$", _before(text, start), re.IGNORECASE) else "the "
            said = f"{the}{ordinal} of {name}"
            return f"{said} {year_words}" if year else said
        return f"{name} {ordinal}, {year_words}" if year else f"{name} {ordinal}"
    if base == "de":
        ordinal = _n2w(day, lang, to="ordinal")
        if not re.search(r"\bder[ \t]+$", _before(text, start), re.IGNORECASE):
            ordinal += "n"
        return f"{ordinal} {name} {year_words}".strip()
    if day == 1 and (base in ("fr", "it") or lang.n2w == "pt_BR"):
        day_words = _n2w(1, lang, to="ordinal")
    else:
        day_words = _n2w(day, lang)
    if base in ("es", "pt"):
        return f"{day_words} de {name} de {year_words}" if year else f"{day_words} de {name}"
    return f"{day_words} {name} {year_words}".strip()


def _valid_date(day: int, month: int, year: str | None) -> bool:
    if not (1 <= month <= 12 and day >= 1):
        return False
    if year and len(year) == 4 and int(year) >= 1:
        return day <= calendar.monthrange(int(year), month)[1]
    return day <= (29 if month == 2 else calendar.monthrange(2001, month)[1])


def _date_rules(lang: _Lang) -> list[_Rule]:
    rules: list[_Rule] = []

    def iso(m: re.Match[str]) -> str:
        year, month, day = m["y"], int(m["m"]), int(m["d"])
        if not _valid_date(day, month, year):
            return m[0]
        return _say_date(day, month, year, lang, m.string, m.start())

    rules.append(
        _Rule(
            re.compile(r"(?<![\w/.-])(?P<y>\d{4})-(?P<m>\d{2})-(?P<d>\d{2})(?![\w/-]|[.,]\d)"),
            _safe(iso),
        )
    )

    def numeric(m: re.Match[str]) -> str:
        a, b, year = int(m["a"]), int(m["b"]), m["y"]
        day, month = (a, b) if lang.day_first else (b, a)
        if not _valid_date(day, month, year):
            day, month = month, day
            if not _valid_date(day, month, year):
                return m[0]
        return _say_date(day, month, year, lang, m.string, m.start())

    # "3/5/2024", "3/5/24", "3-5-2024", and (not in English, where it is a decimal) "05.03.2024".
    separators = r"[/-]" if lang.base == "en" else r"[/.-]"
    numeric_date = re.compile(
        rf"(?<![\w/.:-])(?P<a>\d{{1,2}})(?P<s>{separators})(?P<b>\d{{1,2}})(?P=s)"
        rf"(?P<y>\d{{4}}|(?<=/)\d{{2}})(?![\w/-]|[.,:]\d)"
    )
    rules.append(_Rule(numeric_date, _safe(numeric)))
    months = "|".join(lang.months)
    if lang.base == "en":
        short = r"Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec"
        month_day = re.compile(
            rf"\b(?P<mo>{months}|(?:{short})\.?)[ \t]+(?P<d>\d{{1,2}})(?:st|nd|rd|th)?"
            rf"(?:(?P<c>,?)[ \t]+(?P<y>\d{{4}}))?(?![\w:]|[.,]\d)"
        )

        def en_month_day(m: re.Match[str]) -> str:
            day, month, year = int(m["d"]), _month_index(m["mo"], lang), m["y"]
            if not _valid_date(day, month, year):
                return m[0]
            name, ordinal = lang.months[month - 1], _n2w(day, lang, to="ordinal")
            if not year:
                return f"{name} {ordinal}"
            return f"{name} {ordinal}{m['c']} {_year_words(year, lang)}"

        day_month = re.compile(
            rf"{_START}(?P<d>\d{{1,2}})(?:st|nd|rd|th)?[ \t]+(?:of[ \t]+)?(?P<mo>{months})\b"
            rf"(?:,?[ \t]+(?P<y>\d{{4}})(?![\w:]|[.,]\d))?"
        )

        def en_day_month(m: re.Match[str]) -> str:
            day, month, year = int(m["d"]), _month_index(m["mo"], lang), m["y"]
            if not _valid_date(day, month, year):
                return m[0]
            the = (
                ""
                if re.search(r"\bthe[ \t]+$", _before(m.string, m.start()), re.IGNORECASE)
                else "the "
            )
            said = f"{the}{_n2w(day, lang, to='ordinal')} of {lang.months[month - 1]}"
            return f"{said} {_year_words(year, lang)}" if year else said

        rules += [_Rule(month_day, _safe(en_month_day)), _Rule(day_month, _safe(en_day_month))]
    elif lang.base == "de":
        dotted = re.compile(
            rf"{_START}(?P<d>\d{{1,2}})\.[ \t]*(?P<mo>{months})\b"
            rf"(?:[ \t]+(?P<y>\d{{4}})(?![\w:]|[.,]\d))?"
        )

        def de_date(m: re.Match[str]) -> str:
            day, month, year = int(m["d"]), _month_index(m["mo"], lang), m["y"]
            if not _valid_date(day, month, year):
                return m[0]
            return _say_date(day, month, year, lang, m.string, m.start())

        rules.append(_Rule(dotted, _safe(de_date)))
    elif lang.base in ("fr", "it") or lang.n2w == "pt_BR":
        first = _n2w(1, lang, to="ordinal")
        link = r"[ \t]+de[ \t]+" if lang.base == "pt" else r"[ \t]+"
        day_one = re.compile(rf"{_START}0?1(?={link}(?:{months})\b)", re.IGNORECASE)
        rules.append(_Rule(day_one, lambda m: first))
    return rules


_TIME_RANGE = re.compile(
    r"(?<![\w:.])(?P<a>\d{1,2}(?::\d\d)?(?:[ \t]?[AaPp]\.?[ \t]?[Mm]\.?)?)"
    r"[ \t]?[-–][ \t]?"
    r"(?=(?P<b>\d{1,2}(?::\d\d)?(?:[ \t]?[AaPp]\.?[ \t]?[Mm]\.?)?)(?![\w:]))"
)


_CLOCK_END = re.compile(r"(?::\d\d|[Mm]\.?)$")


def _time_rules(lang: _Lang) -> list[_Rule]:
    def time_range(m: re.Match[str]) -> str:
        if not _CLOCK_END.search(m["b"]):  # "9-5pm" and "10:00-11:00", not "9-5"
            return m[0]
        return f"{m['a']} {lang.to} "

    rules: list[_Rule] = [_Rule(_TIME_RANGE, _safe(time_range))]
    if lang.base == "en":
        ampm = r"(?:[ \t]?(?P<ap>[AaPp]\.?[ \t]?[Mm]\.?)(?![\w]))"
    else:
        ampm = ""
    tail = {
        "de": r"(?:[ \t]?Uhr\b)?",
        "es": r"(?:[ \t]?h\b)?",
        "it": r"(?:[ \t]?h\b)?",
        "pt": r"(?:[ \t]?h\b)?",
    }.get(lang.base, "")
    separator = {
        "de": r"(?::|\.(?=\d\d[ \t]?Uhr\b))",
        "en": r"(?::|\.(?=\d\d[ \t]?[AaPp]\.?[ \t]?[Mm]\b))",  # British "7.30 pm"
    }.get(lang.base, r":")
    clock = re.compile(
        rf"(?<![\w:.])(?P<h>\d{{1,2}}){separator}(?P<m>\d{{2}})(?::(?P<s>\d{{2}}))?{ampm}?{tail}"
        r"(?![\w:]|[.,]\d)"
    )

    def say_clock(m: re.Match[str]) -> str:
        h, mi = int(m["h"]), int(m["m"])
        s = int(m["s"]) if m["s"] else None
        ap = m.groupdict().get("ap")
        if h > 24 or mi > 59 or (s is not None and s > 59) or (ap and not 1 <= h <= 12):
            return m[0]
        words = _say_time(h, mi, s, m["h"].startswith("0") and len(m["h"]) == 2, lang)
        if ap:
            words += " AM" if ap[0] in "Aa" else " PM"
            if ap.endswith("."):
                words += _full_stop_kept(m.string, m.end(), True)
        return words

    rules.append(_Rule(clock, _safe(say_clock)))
    if lang.base == "en":
        bare = re.compile(r"(?<![\w:.])(?P<h>\d{1,2})[ \t]?(?P<ap>[AaPp]\.?[ \t]?[Mm]\.?)(?![\w])")

        def say_bare(m: re.Match[str]) -> str:
            h = int(m["h"])
            if not 1 <= h <= 12:
                return m[0]
            words = _n2w(h, lang) + (" AM" if m["ap"][0] in "Aa" else " PM")
            if m["ap"].endswith("."):
                words += _full_stop_kept(m.string, m.end(), True)
            return words

        rules.append(_Rule(bare, _safe(say_bare)))
    if lang.base in ("fr", "pt"):
        french = re.compile(rf"{_START}(?P<h>\d{{1,2}})[ \t]?h[ \t]?(?P<m>\d{{2}})?(?![\w])")

        def say_h(m: re.Match[str]) -> str:
            h, mi = int(m["h"]), int(m["m"] or 0)
            if h > 24 or mi > 59:
                return m[0]
            return _say_time(h, mi, None, False, lang, hours_word=True)

        rules.append(_Rule(french, _safe(say_h)))
    return rules


def _say_time(
    h: int, mi: int, s: int | None, zero_led: bool, lang: _Lang, hours_word: bool = False
) -> str:
    """A clock time: "three thirty", "fifteen hundred", "quince y cuarenta", "quinze heures"."""
    seconds = f" {_n2w(s, lang)}" if s else ""
    if lang.base == "en":
        hour = _n2w(h, lang)
        if mi == 0:
            if s:
                return (
                    f"{hour} hundred{seconds}" if h > 12 or zero_led else f"{hour} o'clock{seconds}"
                )
            return f"{hour} hundred" if h > 12 or zero_led or h == 0 else f"{hour} o'clock"
        minutes = f"oh {_n2w(mi, lang)}" if mi < 10 else _n2w(mi, lang)
        return f"{hour} {minutes}{seconds}"
    assert lang.hours is not None
    noun, on_the_hour, joiner = lang.hours
    hour = _before_noun(_n2w(h, lang), lang, noun.feminine)
    minutes = _n2w(mi, lang)
    if lang.base in ("fr", "de") or (hours_word and lang.base == "pt"):
        name = noun.one if h == 1 else noun.many
        said = f"{hour} {name}"
        if mi:
            said += f" {joiner} {minutes}" if joiner and lang.base == "pt" else f" {minutes}"
        return said + seconds
    if mi == 0:
        return f"{hour} {on_the_hour}{seconds}"
    return f"{hour} {joiner} {minutes}{seconds}"


def _money_rules(lang: _Lang) -> list[_Rule]:
    symbols = "|".join(re.escape(s) for s in sorted(_CURRENCY_SYMBOLS, key=len, reverse=True))
    codes = "|".join(_CURRENCY_CODES)
    scales = "|".join(re.escape(s) for s in sorted(lang.scales, key=len, reverse=True))
    num = _num_pattern(lang, "n")
    scale = rf"(?:(?:[ \t]?(?P<sc>{scales}))(?![\w]))?" if scales else ""
    prefix = re.compile(
        rf"{_SIGN}(?<![\w])(?P<cur>{symbols}|(?:{codes})[ \t])[ \t]?{num}{scale}{_END}"
    )
    suffix = re.compile(
        rf"{_SIGN}{_START}{_num_pattern(lang, 'n', cents=True)}{scale}"
        rf"[ \t]?(?P<cur>{symbols}|(?:{codes})(?![\w]))"
    )
    cents_only = re.compile(rf"(?<![\w])(?P<cur>{symbols})\.(?=\d)")  # "$.50" is "$0.50"

    def say(m: re.Match[str]) -> str:
        code = m["cur"].strip()
        currency = lang.currencies[_CURRENCY_SYMBOLS.get(code, code)]
        whole, frac = _parts(m, "n")
        written_scale = m.groupdict().get("sc")
        if written_scale:
            spoken = lang.scales[written_scale]
            if lang.base == "de" and whole == "1" and not frac and spoken.endswith("en"):
                spoken = spoken[:-2] if spoken.endswith("nen") else spoken[:-1]
            return _signed(m, lang, _counted(whole, frac, currency.main, lang, scale=spoken))
        cents: int | None = None
        if frac is not None and currency.sub is not None and len(frac) <= 2:
            cents = int(frac.ljust(2, "0"))
            frac = None
        value = int(whole or "0")
        parts = []
        if value or not cents:
            parts.append(_counted(whole or "0", frac, currency.main, lang))
        if cents and currency.sub is not None:
            parts.append(_counted(str(cents), None, currency.sub, lang))
        return _signed(m, lang, f" {lang.money_and} ".join(parts))

    return [
        _Rule(cents_only, lambda m: f"{m['cur']}0."),
        _Rule(prefix, _safe(say)),
        _Rule(suffix, _safe(say)),
    ]


def _measure_rules(lang: _Lang) -> list[_Rule]:
    num = _num_pattern(lang, "n")
    rules: list[_Rule] = []

    def percent(m: re.Match[str]) -> str:
        whole, frac = _parts(m, "n")
        return _signed(m, lang, f"{_number(whole, frac, lang)} {lang.percent}")

    rules.append(_Rule(re.compile(rf"{_SIGN}{_START}{num}[ \t]?%"), _safe(percent)))

    scales = {"C": "Celsius", "F": "Fahrenheit"}
    degree_sign = r"°" if lang.base == "it" else r"[°º]" if lang.base not in ("es", "pt") else r"°"

    def degrees(m: re.Match[str]) -> str:
        whole, frac = _parts(m, "n")
        said = _counted(whole, frac, lang.degree, lang)
        if m["sc"]:
            said += f" {scales[m['sc']]}"
        return _signed(m, lang, said)

    celsius = rf"{_SIGN}{_START}{num}[ \t]?[°º][ \t]?(?P<sc>[CF])(?![\w])"
    rules.append(_Rule(re.compile(celsius), _safe(degrees)))
    if lang.base != "it":
        bare = rf"{_SIGN}{_START}{num}{degree_sign}(?P<sc>)(?![\w])"
        rules.append(_Rule(re.compile(bare), _safe(degrees)))

    units = "|".join(re.escape(u) for u in sorted(lang.units, key=len, reverse=True))

    def unit(m: re.Match[str]) -> str:
        whole, frac = _parts(m, "n")
        noun = lang.units[m["u"]]
        power = m["p"]
        if power:
            square = {"en": ("square", "cubic")}.get(lang.base)
            if square is None:
                return m[0]
            adjective = square[0] if power in "²2" else square[1]
            noun = _Noun(f"{adjective} {noun.one}", f"{adjective} {noun.many}", noun.feminine)
        return _signed(m, lang, _counted(whole, frac, noun, lang))

    rules.append(
        _Rule(
            re.compile(rf"{_SIGN}{_START}{num}[ \t]?(?P<u>{units})(?P<p>[²³])?(?![\w/])"),
            _safe(unit),
        )
    )
    return rules


def _ordinal_rules(lang: _Lang) -> list[_Rule]:
    base = lang.base
    if base == "en":
        pattern = re.compile(
            rf"{_START}(?P<n>\d{{1,3}}(?:,\d{{3}})+|\d+)(?P<o>st|nd|rd|th|ST|ND|RD|TH)(?![\w])"
        )

        def en(m: re.Match[str]) -> str:
            return _n2w(int(m["n"].replace(",", "")), lang, to="ordinal")

        return [_Rule(pattern, _safe(en))]
    if base in ("es", "pt", "it"):
        marks = r"[ºª°]" if base == "it" else r"[ºª]"
        pattern = re.compile(rf"{_START}(?P<n>\d+)\.?(?P<o>{marks})(?![\w])")

        def romance(m: re.Match[str]) -> str:
            words = _n2w(int(m["n"]), lang, to="ordinal")
            if m["o"] == "ª":
                return " ".join(re.sub(r"o$", "a", w) for w in words.split())
            if base == "es" and re.match(r"[ \t]+[^\W\d_]", _after(m.string, m.end())):
                words = re.sub(r"(primer|tercer)o$", r"\1", words)
            return words

        return [_Rule(pattern, _safe(romance))]
    if base == "fr":
        pattern = re.compile(
            rf"{_START}(?P<n>\d+)(?P<o>ers?|res?|ères?|ᵉʳ|ʳᵉ|nde?s?|èmes?|es?|ᵉ|e)(?![\w])"
        )

        def fr(m: re.Match[str]) -> str:
            n, suffix = int(m["n"]), m["o"]
            plural = "s" if suffix.endswith("s") and suffix not in ("ers", "res") else ""
            if suffix in ("ers", "res", "ères"):
                plural = "s"
            if n == 1 and suffix.startswith(("er", "ᵉʳ")):
                return "premier" + plural
            if n == 1 and suffix.startswith(("r", "è", "ʳ")):
                return "première" + plural
            if n == 2 and suffix.startswith("nd"):
                return ("seconde" if suffix.startswith("nde") else "second") + plural
            if n == 1:
                return m[0]
            return _n2w(n, lang, to="ordinal") + plural

        return [_Rule(pattern, _safe(fr))]
    return []


def _range_rules(lang: _Lang) -> list[_Rule]:
    """ "10–20" and "1990-1995" say "to"; phone-like "555-1234" and chains are left alone."""
    pattern = re.compile(
        r"(?<![\w.,/:-])(?P<a>[1-9]\d{0,3})(?P<d>[ \t]?[–—][ \t]?|-)(?P<b>[1-9]\d{0,3})(?![\w/:-]|[.,]\d)"
    )

    def say(m: re.Match[str]) -> str:
        if m["d"] == "-" and len(m["a"]) == 3 and len(m["b"]) == 4:
            return m[0]
        return f"{m['a']} {lang.to} {m['b']}"

    return [_Rule(pattern, _safe(say))]


_YEAR_CUES = frozenset(
    "in since by from until till to of year circa around before after during between and or "
    "through early late mid summer winter spring autumn fall".split()
)
_YEAR_FOLLOWERS = frozenset(
    "and or to through till until was were is will saw had when where while in on at for with "
    "the a an as after before but".split()
)
_DE_YEAR_CUES = frozenset(
    "im jahr jahre jahres seit bis von vor nach ab um anfang ende mitte zwischen und oder "
    "in frühjahr sommer herbst winter".split()
)


def _year_rules(lang: _Lang) -> list[_Rule]:
    if lang.base not in ("en", "de"):
        return []
    months = {m.lower() for m in lang.months}
    rules: list[_Rule] = []
    if lang.base == "en":
        decade = re.compile(r"(?<![\w.,])(?:(?P<c>1[1-9]|20)|')?(?P<d>\d0)'?s(?![\w])")

        def decades(m: re.Match[str]) -> str:
            if m["c"]:
                words = _n2w(int(m["c"] + m["d"]), lang, to="year")
            else:
                words = _n2w(int(m["d"]), lang)
            head, _, last = words.rpartition(" ")
            last = last[:-1] + "ies" if last.endswith("y") else last + "s"
            return f"{head} {last}".strip()

        rules.append(_Rule(decade, _safe(decades)))
        era = re.compile(
            r"(?<![\w.,])(?P<y>\d{1,4})[ \t]?(?P<e>BC|AD|BCE|CE|B\.C\.|A\.D\.|B\.C\.E\.|C\.E\.)(?![\w])"
        )

        def eras(m: re.Match[str]) -> str:
            letters = " ".join(c for c in m["e"] if c.isalpha())
            said = f"{_year_words(m['y'], lang)} {letters}"
            if m["e"].endswith("."):
                said += _full_stop_kept(m.string, m.end(), True)
            return said

        rules.append(_Rule(era, _safe(eras)))

    pattern = re.compile(rf"{_START}(?P<y>1[1-9]\d\d|20\d\d){_END}")

    def year(m: re.Match[str]) -> str:
        text = m.string
        before = re.search(r"([^\W\d_]+)\W*$", _before(text, m.start()))
        cue = before[1].lower() if before else ""
        after = re.match(r"[ \t]+([^\W\d_]+)", _after(text, m.end()))
        follower = after[1] if after else ""
        if lang.base == "en":
            is_year = (
                cue in _YEAR_CUES
                or cue in months
                or not follower
                or not follower[0].islower()
                or follower in _YEAR_FOLLOWERS
            )
        else:
            is_year = cue in _DE_YEAR_CUES or cue in months or not follower or follower[0].islower()
        if not is_year:
            return m[0]
        return _n2w(int(m["y"]), lang, to="year")

    rules.append(_Rule(pattern, _safe(year)))
    return rules


def _number_rules(lang: _Lang) -> list[_Rule]:
    rules: list[_Rule] = []
    if lang.point_decimal:
        point = re.compile(rf"{_SIGN}(?<![\w.,])\.(?P<f>\d+){_END}")
        rules.append(
            _Rule(point, _safe(lambda m: _signed(m, lang, f"{lang.point} {_digits(m['f'], lang)}")))
        )
    num = _num_pattern(lang, "n")
    skip_de_ordinal = r"(?!\.[ \t]+[^\W\d_])" if lang.base == "de" else ""
    pattern = re.compile(rf"{_SIGN}{_START}{num}{_END}{skip_de_ordinal}")

    def cardinal(m: re.Match[str]) -> str:
        whole, frac = _parts(m, "n")
        if len(m["n_i"]) >= 7 and m["n_i"].isdigit() and not m["n_i"].endswith("000"):
            return _signed(m, lang, _digits(whole, lang))  # a phone or account number
        words = _number(whole, frac, lang)
        if not frac and lang.base in ("es", "it", "pt", "de"):
            words = _apocope(words, m, lang)
        return _signed(m, lang, words)

    rules.append(_Rule(pattern, _safe(cardinal)))
    return rules


_NOT_NOUNS = {
    "pt": frozenset("de do da e ou a ao por em mais menos é são que com sem para entre".split()),
    "es": frozenset("de del y o u a al por en más menos es son que con sin para entre".split()),
    "it": frozenset("di del e o a al per in più meno è sono che con senza tra fra".split()),
}


def _apocope(words: str, m: re.Match[str], lang: _Lang) -> str:
    """ "1 perro" is "un perro", "1 Hund" "ein Hund"; "uno de ellos" and "Seite 1" stay whole."""
    after = re.match(r"[ \t]+([^\W\d_]+)", _after(m.string, m.end()))
    if not after:
        return words
    word = after[1]
    if lang.base == "de":
        return re.sub(r"eins$", "ein", words) if word[0].isupper() else words
    if word[0].islower() and word not in _NOT_NOUNS[lang.base]:
        return _before_noun(words, lang, feminine=_looks_feminine(word, lang.base))
    return words


_FEMININE_ENDINGS = {
    "es": ("a", "ción", "sión", "dad", "tad", "tud", "umbre"),
    "it": ("a", "zione", "sione", "tà", "tù"),
    "pt": ("a", "ção", "são", "dade", "agem"),
}
_MASCULINE_IN_A = frozenset(
    "día dia mapa problema programa sistema tema planeta idioma clima drama poema dilema "
    "esquema cinema papa poeta pigiama sofá".split()
)


def _looks_feminine(word: str, base: str) -> bool:
    """A guess from the ending ("casa", "canción", "città"), with the common exceptions."""
    word = word.lower()
    singular = word[:-1] if word.endswith("s") and base != "it" else word
    if base == "it" and word.endswith("e") and not word.endswith(("ione", "zione")):
        singular = word[:-1] + "a"  # "sterline" -> "sterlina"
    if singular in _MASCULINE_IN_A:
        return False
    return singular.endswith(_FEMININE_ENDINGS.get(base, ()))


@functools.cache
def _rules(base: str, region: str) -> tuple[_Lang, tuple[_Rule, ...]]:
    lang = _BUILDERS[base](region)
    rules = [
        *_symbol_rules(lang),
        *_abbreviation_rules(lang),
        *_date_rules(lang),
        *_time_rules(lang),
        *_range_rules(lang),
        *_money_rules(lang),
        *_measure_rules(lang),
        *_ordinal_rules(lang),
        *_year_rules(lang),
        *_number_rules(lang),
        *_plus_rules(lang),
    ]
    return lang, tuple(rules)


# --------------------------------------------------------------------------- the function

_LINE_BREAKS = re.compile(r"\r\n?|[\x0b\x0c\x85\u2028\u2029]")
_SPACES = re.compile(r"[^\S\n]+")
_AROUND_NEWLINE = re.compile(r" ?\n ?")
_PROTECTED = re.compile(
    r"(?:(?:https?|ftp)://|\bwww\.)[^\s<>\"']+"  # a scheme glued to a word is still a URL
    r"|(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)+"
    r"|@\w+"
)
_URL_TAIL = ".,;:!?)]}'\"”’»"


def _tidy(text: str) -> str:
    """Safe whitespace tidying: one space between words, line breaks kept, ends stripped."""
    text = _LINE_BREAKS.sub("\n", text)
    text = _SPACES.sub(" ", text)
    return _AROUND_NEWLINE.sub("\n", text).strip()


def _pieces(text: str) -> list[tuple[bool, str]]:
    """The text cut into (protected, piece): URLs, e-mail addresses and @handles stay as written."""
    pieces: list[tuple[bool, str]] = []
    last = 0
    for m in _PROTECTED.finditer(text):
        token = m[0]
        end = m.end()
        if token[:1] != "@":
            stripped = token.rstrip(_URL_TAIL)
            end -= len(token) - len(stripped)
            token = stripped
        if not token:
            continue
        pieces.append((False, text[last : m.start()]))
        pieces.append((True, token))
        last = end
    pieces.append((False, text[last:]))
    return pieces


def _parse_language(language: str) -> tuple[str, str]:
    tag = language.strip().replace("_", "-").lower()
    base, _, region = tag.partition("-")
    return base, region.partition("-")[0]


def normalize(text: str, language: str = "en") -> str:
    """``text`` with numbers, dates, times, money, units and abbreviations written as words.

    ``language`` is an ISO 639-1 code, regional tags accepted ("en-GB", "pt-BR"); languages
    outside :data:`SUPPORTED_LANGUAGES` get whitespace tidying only. Never raises.
    """
    try:
        tidy = _tidy(text)
    except Exception:
        return text if isinstance(text, str) else ""
    try:
        base, region = _parse_language(language)
        if base not in SUPPORTED_LANGUAGES:
            return tidy
        _, rules = _rules(base, region)
        out: list[str] = []
        for protected, piece in _pieces(tidy):
            if not protected:
                for rule in rules:
                    piece = rule.pattern.sub(rule.replace, piece)
            out.append(piece)
        return _tidy("".join(out))
    except Exception:
        return tidy
