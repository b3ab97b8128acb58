#!/usr/bin/env python3
"""Generate the demo scenarios' cases from this file's own templates and word lists (no downloads).

    python datasets/generate_demo_cases.py            # rewrite both cases files and their digests
    python datasets/generate_demo_cases.py --check    # exit 1 if a committed file would change

Seeded: the same script gives byte-identical files. After writing a cases file it updates
`dataset.sha256` in the scenario's contract, so the contract always names the bytes it was
evaluated on. A plain script, not a package: `datasets/` holds data only.

The cases are built to be hard enough that a 135M-parameter model gets some right and some wrong:
clear requests, requests touching two queues (the reference is the one the customer asks for),
misleading keywords ("no refund needed, the app crashes"), long noisy e-mails and phone
transcripts with the request buried, and messages in Spanish, German, French or mixed languages.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
import sys
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
SEED = 20261127

# --------------------------------------------------------------------------------------------
# support-triage
# --------------------------------------------------------------------------------------------
QUEUES = ("billing", "technical", "account", "shipping", "returns", "other")
PRODUCTS = ["the Pro plan", "my annual subscription", "the wireless headphones", "the standing desk",
            "the coffee grinder", "the family plan", "the smart thermostat", "the running shoes",
            "the 4K monitor", "the gift card", "the blender", "the premium membership"]
APP_PARTS = ["settings page", "checkout screen", "order history", "mobile app", "search bar",
             "notifications", "dashboard", "desktop client", "sync feature", "export button"]
NAMES = ["Maria", "John", "Aisha", "Kenji", "Lucas", "Fatima", "Oliver", "Chen", "Sofia", "Noah",
         "Elena", "Tom", "Priya", "Jonas", "Camille", "Diego", "Hannah", "Omar", "Mia", "Pedro"]


def _order() -> str:
    return f"#{_rng.randint(10000, 99999)}"


def _fill(text: str) -> str:
    """Fill {product}, {part}, {order}, {days}, {amount} with seeded choices."""
    return text.format(product=_rng.choice(PRODUCTS), part=_rng.choice(APP_PARTS), order=_order(),
                       days=_rng.randint(3, 21), amount=f"{_rng.randint(5, 400)}.{_rng.randint(0, 99):02d}")


# Clear requests: one queue, its usual words.
CLEAR = {
    "billing": [
        "I was charged twice for {product} this month.",
        "Why is there an extra charge of ${amount} on my card?",
        "Please send me a copy of the invoice for order {order}.",
        "My payment failed but the money left my account anyway.",
        "Can I change the credit card you bill every month?",
        "The price on my statement is higher than the one I signed up for.",
        "I need a VAT invoice with my company name on it.",
        "You billed me after I cancelled {product}. Please refund the charge.",
        "How do I switch from monthly to yearly billing?",
        "The discount code was not applied to my last payment.",
    ],
    "technical": [
        "The app crashes every time I open the {part}.",
        "I get error 503 when I try to load the {part}.",
        "The {part} has been frozen on a spinning wheel since the update.",
        "Sync stopped working between my phone and laptop.",
        "The page is blank in Firefox but works in Chrome.",
        "Push notifications stopped arriving after the latest update.",
        "The {part} shows the wrong data and refreshing does not help.",
        "My smart thermostat will not connect to the Wi-Fi anymore.",
        "Uploading a file fails at 99% with a timeout error.",
        "The export button produces an empty CSV file.",
    ],
    "account": [
        "I cannot log in, please reset my password.",
        "How do I change the email address on my profile?",
        "My account is locked after too many login attempts.",
        "Please delete my account and all my personal data.",
        "I never received the two-factor code to sign in.",
        "Can you merge my two accounts into one?",
        "Someone else may have accessed my account, I see logins I did not make.",
        "I want to change my username.",
        "The verification link in the sign-up email has expired.",
        "How do I add my partner as a second user on my profile?",
    ],
    "shipping": [
        "Where is my parcel? It should have arrived {days} days ago.",
        "Tracking for order {order} has not updated in a week.",
        "Can I change the delivery address for order {order}?",
        "The courier says delivered but nothing is at my door.",
        "Do you ship to Norway, and how long does it take?",
        "My package is stuck in customs.",
        "Can I get express delivery for {product}?",
        "Only one of the two boxes of order {order} arrived.",
        "The delivery driver left my parcel with a neighbour I do not know.",
        "When will order {order} be dispatched?",
    ],
    "returns": [
        "I want to send {product} back and get my money back.",
        "How do I return {product}? It does not fit.",
        "Please send me a return label for order {order}.",
        "Can I exchange {product} for a different size?",
        "The item is not what I ordered, I want to return it.",
        "Is the 30-day return window counted from delivery or from purchase?",
        "I dropped the return off at the post office {days} days ago, when do I get my refund?",
        "{product} arrived broken, I want to send it back for a replacement.",
        "Can I return a gift without the receipt?",
        "I changed my mind about {product}, how do I return it unopened?",
    ],
    "other": [
        "Do you have any job openings in customer service?",
        "I just wanted to say your team was really helpful last week, thanks!",
        "Are you open on public holidays?",
        "I would like to propose a partnership with our store.",
        "Do you sponsor local charity events?",
        "Where can I find your privacy policy?",
        "Is there a physical shop in Lisbon I can visit?",
        "Can I speak to someone about a press interview?",
        "Do you plan to sell {product} in green?",
        "What are your opening hours on Saturday?",
    ],
}

# Two topics; the reference is what the customer asks for.
AMBIGUOUS = {
    "billing": [
        "The parcel arrived fine, but you charged shipping twice on my card.",
        "I returned {product} last month and was still billed for it again this month.",
        "I can log in fine, I just need the invoice for March for my accountant.",
        "The app works, but the payment page took my money twice.",
    ],
    "technical": [
        "I tried to pay my bill but the payment page throws error 500 every time.",
        "I want to track my parcel but the tracking page just shows a blank screen.",
        "Trying to start a return but the return form crashes when I press submit.",
        "The login button does nothing at all when I tap it, on every phone we own.",
    ],
    "account": [
        "I want to see my invoices but I forgot my password.",
        "To track my order I need to log in, but my account is locked.",
        "Please update the email on my account, the invoices go to my old address.",
        "I need to change the phone number on my profile so the courier can reach me.",
    ],
    "shipping": [
        "I paid for express delivery but order {order} is still not here after {days} days.",
        "The return of my old order is done, but my new order {order} never shipped.",
        "The app says my order is delivered, but I never got it.",
        "I paid for next-day shipping and the parcel has been in transit for a week.",
    ],
    "returns": [
        "The charge is fine, but the shoes are too small and I want to send them back.",
        "The delivery was quick, but {product} is the wrong colour, how do I return it?",
        "The device works but I just do not like it, can I return it for a refund?",
        "I was billed correctly, I just want to return one of the two items.",
    ],
    "other": [
        "Not a complaint about billing or delivery, just curious: are your bags made from recycled plastic?",
        "My order is fine and my account too. Do you offer student discounts in your shops?",
        "No problem with the app. I am writing a school project about your company, can I ask questions?",
        "Everything arrived. Do you have a loyalty programme I can join?",
    ],
}

# Keywords of one queue, request of another.
MISLEADING = {
    "billing": [
        "This is not about shipping or returns: the invoice shows the wrong amount.",
        "Delivery and the app are fine. I was charged ${amount} twice.",
        "Forget the return I mentioned earlier, I just need my card charge explained.",
    ],
    "technical": [
        "No refund needed. The {part} just crashes whenever I open it.",
        "I do not want to return anything, but the device keeps rebooting every few minutes.",
        "My account and payment are fine, the app simply freezes on startup.",
    ],
    "account": [
        "I do not have a billing question. I just need to reset my password.",
        "Nothing wrong with the delivery, I want to change the name on my account.",
        "Not a technical bug I think: I simply forgot which email I used to sign up.",
    ],
    "shipping": [
        "Not about a refund: my parcel tracking has not updated in {days} days.",
        "My payment went through fine, but where is the package?",
        "I do not want to cancel or return, I only want to know when order {order} will arrive.",
    ],
    "returns": [
        "The payment was fine and delivery was fast, but I want to send the jacket back.",
        "This is not a technical problem, the blender works, I just want to return it.",
        "I do not need a new password, I need a return label for order {order}.",
    ],
    "other": [
        "Not a return and not a bill: I love the product and want to write a review for your blog.",
        "Not a login problem, I want to know if you are hiring developers.",
        "This is not about an order. Who should I contact for a sponsorship request?",
    ],
}

# Short messages in Spanish, German and French.
FOREIGN = {
    "es": {
        "billing": ["Me han cobrado dos veces la suscripción este mes.", "Necesito la factura del pedido {order}.",
                    "Hay un cargo que no reconozco en mi tarjeta.", "El descuento no se aplicó a mi pago."],
        "technical": ["La aplicación se cierra cada vez que abro la configuración.", "Me sale el error 503 al cargar la página.",
                      "La sincronización dejó de funcionar después de la actualización.", "El botón de exportar no hace nada."],
        "account": ["No puedo iniciar sesión, quiero restablecer mi contraseña.", "¿Cómo cambio el correo de mi cuenta?",
                    "Mi cuenta está bloqueada.", "Quiero borrar mi cuenta y mis datos."],
        "shipping": ["¿Dónde está mi paquete? Debía llegar hace {days} días.", "El seguimiento del pedido {order} no se actualiza.",
                     "Quiero cambiar la dirección de entrega.", "El paquete está retenido en aduanas."],
        "returns": ["Quiero devolver los zapatos, son pequeños.", "¿Me pueden enviar una etiqueta de devolución?",
                    "El producto llegó roto y quiero devolverlo.", "¿Puedo cambiar la talla de la chaqueta?"],
        "other": ["¿Tienen ofertas de empleo?", "¿Abren los domingos?", "Solo quería dar las gracias por la ayuda.",
                  "¿Hacen envíos de catálogos impresos a colegios?"],
    },
    "de": {
        "billing": ["Mir wurde das Abo diesen Monat doppelt berechnet.", "Bitte schicken Sie mir die Rechnung für Bestellung {order}.",
                    "Auf meiner Kreditkarte ist eine unbekannte Abbuchung.", "Der Rabattcode wurde bei der Zahlung nicht berücksichtigt."],
        "technical": ["Die App stürzt jedes Mal ab, wenn ich die Einstellungen öffne.", "Beim Laden der Seite kommt Fehler 503.",
                      "Seit dem Update funktioniert die Synchronisierung nicht mehr.", "Der Export erzeugt eine leere Datei."],
        "account": ["Ich kann mich nicht anmelden, bitte Passwort zurücksetzen.", "Wie ändere ich die E-Mail-Adresse in meinem Konto?",
                    "Mein Konto ist gesperrt.", "Bitte löschen Sie mein Konto und meine Daten."],
        "shipping": ["Wo ist mein Paket? Es sollte vor {days} Tagen ankommen.", "Die Sendungsverfolgung für {order} ändert sich nicht.",
                     "Kann ich die Lieferadresse noch ändern?", "Mein Paket hängt beim Zoll fest."],
        "returns": ["Ich möchte die Schuhe zurückschicken, sie sind zu klein.", "Bitte senden Sie mir ein Rücksendeetikett.",
                    "Der Artikel kam kaputt an, ich möchte ihn zurückgeben.", "Kann ich die Jacke in einer anderen Größe umtauschen?"],
        "other": ["Haben Sie offene Stellen im Kundenservice?", "Haben Sie an Feiertagen geöffnet?",
                  "Ich wollte mich nur für die schnelle Hilfe bedanken.", "Gibt es eine Filiale in Hamburg?"],
    },
    "fr": {
        "billing": ["On m'a facturé deux fois l'abonnement ce mois-ci.", "Pouvez-vous m'envoyer la facture de la commande {order} ?",
                    "Il y a un prélèvement inconnu sur ma carte.", "Le code promo n'a pas été appliqué à mon paiement."],
        "technical": ["L'application plante dès que j'ouvre les paramètres.", "J'ai une erreur 503 en chargeant la page.",
                      "La synchronisation ne marche plus depuis la mise à jour.", "Le bouton d'export ne fait rien."],
        "account": ["Je n'arrive pas à me connecter, merci de réinitialiser mon mot de passe.", "Comment changer l'adresse e-mail de mon compte ?",
                    "Mon compte est bloqué.", "Je veux supprimer mon compte et mes données."],
        "shipping": ["Où est mon colis ? Il devait arriver il y a {days} jours.", "Le suivi de la commande {order} ne bouge plus.",
                     "Puis-je changer l'adresse de livraison ?", "Mon colis est bloqué à la douane."],
        "returns": ["Je voudrais renvoyer les chaussures, elles sont trop petites.", "Pouvez-vous m'envoyer une étiquette de retour ?",
                    "L'article est arrivé cassé, je veux le retourner.", "Puis-je échanger la veste contre une autre taille ?"],
        "other": ["Est-ce que vous recrutez ?", "Êtes-vous ouverts les jours fériés ?",
                  "Je voulais juste remercier votre équipe.", "Avez-vous une boutique à Lyon ?"],
    },
}

# Code-switched messages (mixed languages), a common real-world case for support queues.
MIXED = {
    "billing": ["Hola, me cobraron twice for the subscription este mes, can you check?",
                "Hallo, ich habe eine double charge on my credit card gesehen."],
    "technical": ["La app crashes cada vez que abro el {part}, please help.",
                  "Bonjour, the app plante toujours quand j'ouvre le {part}."],
    "account": ["No puedo hacer login, I forgot my password otra vez.",
                "Mein Account ist locked, ich komme nicht mehr rein."],
    "shipping": ["Mon colis n'est toujours pas arrivé, tracking says in transit depuis {days} jours.",
                 "Wo ist mein Paket? Tracking number {order} shows nothing."],
    "returns": ["Quiero return the shoes, no me quedan bien.",
                "Je veux renvoyer the jacket, it is too big pour moi."],
    "other": ["Hola! Do you have tiendas in Madrid o solo online?",
              "Salut, are you hiring des étudiants pour l'été?"],
}

EMAIL_OPEN = ["Hi team,", "Hello,", "Dear customer service,", "Good morning,", "Hi there,", "To whom it may concern,"]
EMAIL_CLOSE = ["Thanks,", "Best regards,", "Kind regards,", "Cheers,", "Thank you in advance,"]
NOISE = [
    "I have been a customer for {years} years and never had an issue before.",
    "Sorry for the long message, I am writing this on my lunch break.",
    "My previous ticket number was {ticket} but nobody answered.",
    "I already tried the help centre articles but they did not help.",
    "This is the third time I am writing about this.",
    "Please answer by email, I cannot take calls at work.",
    "I also noticed your website looks different, nice redesign by the way.",
    "My neighbour recommended your shop, so I hope this gets sorted quickly.",
    "I am travelling next week so a quick answer would be great.",
    "By the way, the weather here has been terrible, which does not help my mood.",
]
QUOTED = [
    "-----Original message-----\nFrom: support@shop.example\nSubject: Your order confirmation\n> Thank you for your order. Your invoice and tracking link are below.",
    "> On Monday you wrote:\n> We are sorry for the delay and have passed your request on.",
    "Sent from my phone",
    "--\nThis email and any attachments are confidential. If you received it in error, delete it.",
]
EMAIL_WORDS = {
    "es": (["Hola,", "Buenos días,", "Estimado equipo,"], ["Gracias,", "Saludos,", "Un saludo,"]),
    "de": (["Hallo,", "Guten Tag,", "Sehr geehrtes Team,"], ["Danke,", "Viele Grüße,", "Mit freundlichen Grüßen,"]),
    "fr": (["Bonjour,", "Madame, Monsieur,"], ["Merci,", "Cordialement,", "Bien à vous,"]),
}
CHAT_PREFIX = ["hi", "hey", "hello?", "yo", "hi there", ""]
SOCIAL_TAGS = ["#fail", "#help", "#customerservice", "#notimpressed", "#thanks", ""]


def _typos(text: str) -> str:
    """Chat style: lower case, a dropped letter or two, no final full stop."""
    text = text.lower().rstrip(".")
    words = text.split()
    for _ in range(_rng.randint(0, 2)):
        i = _rng.randrange(len(words))
        if len(words[i]) > 4 and words[i].isalpha():
            j = _rng.randrange(1, len(words[i]) - 1)
            words[i] = words[i][:j] + words[i][j + 1:]
    return " ".join(words)


def _styled(core: str, channel: str, language: str, long: bool) -> str:
    """Wrap the request in the channel's usual form; long messages bury it in noise."""
    name = _rng.choice(NAMES)
    noise = [n.format(years=_rng.randint(2, 12), ticket=f"T-{_rng.randint(100000, 999999)}")
             for n in _rng.sample(NOISE, 6)] if long else []
    cut = _rng.randint(2, 3)
    before, after = noise[:cut], noise[cut:cut + _rng.randint(1, 3)]
    if channel == "email":
        body = " ".join(before + [core] + after)
        opening, closing = EMAIL_WORDS.get(language, (EMAIL_OPEN, EMAIL_CLOSE))
        text = f"{_rng.choice(opening)}\n\n{body}\n\n{_rng.choice(closing)}\n{name}"
        if long:
            text += "\n\n" + _rng.choice(QUOTED)
        return text
    if channel == "chat":
        lines = [p for p in [_rng.choice(CHAT_PREFIX)] if p]
        lines += [_typos(s) for s in before] + [_typos(core) if language == "en" else core] + [_typos(s) for s in after]
        return "\n".join(lines)
    if channel == "phone-transcript":
        turns = ["Agent: Thank you for calling, how can I help you today?"]
        if long:
            turns += [f"Customer: Hi, yes, um, {before[0][0].lower()}{before[0][1:]}",
                      "Agent: I understand. What can I do for you?"]
            turns += [f"Customer: {s}" for s in before[1:]]
        turns.append(f"Customer: {'So, ' + core[0].lower() + core[1:] if long else core}")
        turns.append("Agent: Let me look into that for you.")
        if long:
            turns += [f"Customer: Okay. {s}" for s in after] + ["Agent: Could you confirm your name?",
                                                                 f"Customer: It's {name}."]
        return "\n".join(turns)
    # social
    handle = _rng.choice(["@ShopCo", "@ShopCoHelp", "@shopco_support"])
    tag = _rng.choice(SOCIAL_TAGS)
    parts = [handle] + before + [core] + after + ([tag] if tag else [])
    return " ".join(parts)


def _length(message: str) -> str:
    words = len(message.split())
    return "short" if words < 25 else "medium" if words < 70 else "long"


def support_triage_cases() -> list[dict[str, str]]:
    cases: list[dict[str, str]] = []
    seen: set[str] = set()
    channels = ("email", "chat", "phone-transcript", "social")

    def add(core: str, queue: str, template: str, language: str, *, long: bool = False,
            channel: str | None = None) -> None:
        for _ in range(5):  # a different channel or filling when a duplicate comes out
            ch = channel or _rng.choice(channels)
            message = _styled(_fill(core), ch, language, long)
            if message not in seen:
                seen.add(message)
                cases.append({"message": message, "channel": ch, "language": language,
                              "length": _length(message), "template": template, "reference": queue})
                return

    for queue in QUEUES:
        for core in CLEAR[queue]:
            for _ in range(2):
                add(core, queue, "clear", "en")
        for core in AMBIGUOUS[queue]:
            for _ in range(2):
                add(core, queue, "ambiguous", "en")
        for core in MISLEADING[queue]:
            for _ in range(2):
                add(core, queue, "misleading", "en")
        # the request buried in a long e-mail, transcript or thread
        for core in _rng.sample(CLEAR[queue], 5) + _rng.sample(AMBIGUOUS[queue], 2) + _rng.sample(MISLEADING[queue], 2):
            add(core, queue, "noisy-long", "en", long=True, channel=_rng.choice(("email", "phone-transcript", "email", "social")))
        for language, table in FOREIGN.items():
            for core in table[queue]:
                add(core, queue, "other-language", language, channel=_rng.choice(("email", "chat", "social")))
            add(_rng.choice(table[queue]), queue, "other-language", language, channel="chat")
        for core in MIXED[queue]:
            for _ in range(2):
                add(core, queue, "mixed-language", "mixed", channel=_rng.choice(("chat", "social", "email")))
    _rng.shuffle(cases)
    return [{"id": f"st-{i:04d}", **case} for i, case in enumerate(cases, start=1)]


# --------------------------------------------------------------------------------------------
# invoice-extraction
# --------------------------------------------------------------------------------------------
VENDOR_FIRST = ["Northwind", "Blue Harbor", "Alpine", "Redwood", "Silverline", "Kestrel", "Lumen", "Oakridge",
                "Brightwater", "Meridian", "Falcon", "Granite", "Juniper", "Cobalt", "Sunfield", "Harbor Point",
                "Ironbridge", "Willow", "Summit", "Atlas"]
VENDOR_SECOND = ["Paper", "Logistics", "Software", "Catering", "Print", "Office Supplies", "Cleaning", "Consulting",
                 "Electrical", "Design", "Freight", "Hosting", "Furniture", "Security", "Media"]
SUFFIX = {"en": ["Ltd", "Inc.", "LLC", "Co.", "Group"], "de": ["GmbH", "AG", "KG"],
          "fr": ["SARL", "SAS", "SA"], "es": ["S.L.", "S.A."]}
CUSTOMERS = ["Acme Retail", "Globex Corp", "Initech", "Umbrella Foods", "Stark Studios", "Wayne Interiors",
             "Hooli Labs", "Vandelay Imports", "Pied Piper", "Soylent Foods"]
ITEMS = ["Consulting hours", "A4 paper, 5 boxes", "Cloud hosting (monthly)", "Catering for 20 people",
         "Office chairs", "Printer toner", "Website maintenance", "Freight Hamburg-Rotterdam", "Cleaning service",
         "Security audit", "Logo design", "Desk lamps", "Network cables", "Software licence", "Training session"]
CURRENCIES = {"USD": "$", "EUR": "€", "GBP": "£", "CHF": "CHF", "JPY": "¥"}
CURRENCY_WORDS = {"USD": "US dollars", "EUR": "euros", "GBP": "pounds sterling", "CHF": "Swiss francs", "JPY": "yen"}
MONTHS = {
    "en": ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December"],
    "de": ["Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September", "Oktober",
           "November", "Dezember"],
    "fr": ["janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
           "novembre", "décembre"],
    "es": ["enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre", "octubre",
           "noviembre", "diciembre"],
}
WORDS = {  # labels per language: invoice, number, date, due, subtotal, tax, total, from, bill to, shipping
    "en": dict(invoice="Invoice", number="Invoice No.", date="Invoice date", due="Due date", subtotal="Subtotal",
               tax="VAT", total="Total due", vendor="From", customer="Bill to", shipping="Shipping", order="PO number"),
    "de": dict(invoice="Rechnung", number="Rechnungsnummer", date="Rechnungsdatum", due="Fällig am",
               subtotal="Zwischensumme", tax="MwSt.", total="Gesamtbetrag", vendor="Absender",
               customer="Rechnungsempfänger", shipping="Versand", order="Bestellnummer"),
    "fr": dict(invoice="Facture", number="N° de facture", date="Date de facture", due="Échéance",
               subtotal="Sous-total", tax="TVA", total="Total TTC", vendor="Émetteur", customer="Client",
               shipping="Livraison", order="Bon de commande"),
    "es": dict(invoice="Factura", number="N.º de factura", date="Fecha de factura", due="Vencimiento",
               subtotal="Subtotal", tax="IVA", total="Total a pagar", vendor="Emisor", customer="Cliente",
               shipping="Envío", order="Pedido"),
}
LAYOUTS = ("key-value", "table", "letter", "receipt", "email")


def _money(amount: float, currency: str, language: str, style: float) -> str:
    """How an amount is written in the invoice's language and style (the reference is a number)."""
    if currency == "JPY":
        digits = f"{int(round(amount)):,}"
    else:
        digits = f"{amount:,.2f}"
    if language == "de" or language == "es":
        digits = digits.replace(",", "X").replace(".", ",").replace("X", ".")
    elif language == "fr":
        digits = digits.replace(",", "\u202f").replace(".", ",")
    symbol = CURRENCIES[currency]
    if style < 0.4:
        return f"{symbol}{digits}" if symbol in "$£¥" else f"{digits} {symbol}"
    if style < 0.8:
        return f"{digits} {currency}"
    return f"{currency} {digits}"


def _date_text(year: int, month: int, day: int, language: str) -> str:
    style = _rng.random()
    if style < 0.25:
        return f"{year:04d}-{month:02d}-{day:02d}"
    if language == "en":
        if style < 0.6:
            return f"{MONTHS['en'][month - 1]} {day}, {year}"
        if style < 0.8:
            return f"{day} {MONTHS['en'][month - 1][:3]} {year}"
        return f"{day:02d}/{month:02d}/{year}" if day > 12 else f"{MONTHS['en'][month - 1]} {day}, {year}"
    if language == "de":
        return f"{day:02d}.{month:02d}.{year}" if style < 0.65 else f"{day}. {MONTHS['de'][month - 1]} {year}"
    if language == "fr":
        return f"{day:02d}/{month:02d}/{year}" if style < 0.6 else f"{day} {MONTHS['fr'][month - 1]} {year}"
    return f"{day:02d}/{month:02d}/{year}" if style < 0.6 else f"{day} de {MONTHS['es'][month - 1]} de {year}"


def _invoice_number(year: int) -> str:
    return _rng.choice([
        lambda: f"INV-{year}-{_rng.randint(1, 9999):04d}",
        lambda: f"{_rng.choice('ABCFRS')}{_rng.randint(10000, 99999)}",
        lambda: f"{year}/{_rng.randint(100, 999)}",
        lambda: f"NW-{_rng.randint(100, 999)}-{_rng.choice('XYZQ')}",
        lambda: f"{_rng.randint(1000000, 9999999)}",
    ])()


def _invoice_case(layout: str, language: str, length: str) -> dict[str, str]:
    w = WORDS[language]
    currency = _rng.choice(list(CURRENCIES))
    year, month, day = _rng.choice([2025, 2026]), _rng.randint(1, 12), _rng.randint(1, 28)
    due_day = min(28, day + _rng.randint(7, 20)) if day < 20 else _rng.randint(1, 28)
    due_month = month if day < 20 else month % 12 + 1
    vendor = f"{_rng.choice(VENDOR_FIRST)} {_rng.choice(VENDOR_SECOND)} {_rng.choice(SUFFIX[language])}"
    customer = _rng.choice(CUSTOMERS)
    number = _invoice_number(year)
    n_items = {"short": 1, "medium": _rng.randint(2, 4), "long": _rng.randint(6, 10)}[length]
    scale = 100 if currency == "JPY" else 1
    items = [(_rng.choice(ITEMS), _rng.randint(1, 5), round(_rng.uniform(8, 900) * scale, 0 if scale > 1 else 2))
             for _ in range(n_items)]
    subtotal = round(sum(q * p for _, q, p in items), 2)
    tax_rate = _rng.choice([0.0, 0.07, 0.19, 0.2, 0.21])
    tax = round(subtotal * tax_rate, 0 if scale > 1 else 2)
    shipping_fee = round(_rng.choice([0, 0, 9.9, 25]) * scale, 2)
    total = round(subtotal + tax + shipping_fee, 0 if scale > 1 else 2)
    if currency == "JPY":  # yen have no minor unit: the reference total is a whole number
        total = int(total)
    money_style = _rng.random()  # one way of writing amounts per invoice, as a real system would
    m = lambda amount: _money(amount, currency, language, money_style)  # noqa: E731
    date = _date_text(year, month, day, language)
    due = _date_text(year + (due_month < month), due_month, due_day, language)
    po = f"PO-{_rng.randint(1000, 9999)}"
    lines_items = [f"{name} x{q} @ {m(p)} = {m(q * p)}" for name, q, p in items]
    amounts = [f"{w['subtotal']}: {m(subtotal)}", f"{w['tax']} {int(tax_rate * 100)}%: {m(tax)}"]
    if shipping_fee:
        amounts.append(f"{w['shipping']}: {m(shipping_fee)}")
    amounts.append(f"{w['total']}: {m(total)}")
    if layout == "key-value":
        text = "\n".join([f"{w['invoice']}", f"{w['number']}: {number}", f"{w['vendor']}: {vendor}",
                          f"{w['date']}: {date}"] + (lines_items if length != "short" else [])
                         + ([f"{w['due']}: {due}"] if length != "short" else []) + [f"{w['total']}: {m(total)}"])
    elif layout == "table":
        rows = [f"| {name:<28} | {q:>3} | {m(p):>14} | {m(q * p):>14} |" for name, q, p in items]
        text = "\n".join([f"{vendor}", f"{w['invoice'].upper()} {number}   {w['date']}: {date}",
                          f"{w['customer']}: {customer}   {w['order']}: {po}", "+" + "-" * 70 + "+"] + rows
                         + ["+" + "-" * 70 + "+"] + amounts + [f"{w['due']}: {due}"])
    elif layout == "letter":
        intro = {"en": f"Dear {customer},\n\nplease find below our invoice {number} dated {date} for the services "
                       f"delivered under your order {po}.",
                 "de": f"Sehr geehrte Damen und Herren von {customer},\n\nanbei unsere Rechnung {number} vom {date} "
                       f"zu Ihrer Bestellung {po}.",
                 "fr": f"Madame, Monsieur,\n\nveuillez trouver ci-dessous notre facture {number} du {date} "
                       f"relative à votre commande {po} ({customer}).",
                 "es": f"Estimados señores de {customer}:\n\nles remitimos la factura {number} con fecha {date} "
                       f"correspondiente a su pedido {po}."}[language]
        pay = {"en": f"Please pay the amount of {m(total)} by {due}.",
               "de": f"Bitte überweisen Sie den Betrag von {m(total)} bis zum {due}.",
               "fr": f"Merci de régler la somme de {m(total)} avant le {due}.",
               "es": f"Les rogamos abonen el importe de {m(total)} antes del {due}."}[language]
        body = "\n".join(lines_items + amounts[:-1]) if length != "short" else ""
        text = "\n\n".join(p for p in [vendor, intro, body, pay, vendor] if p)
    elif layout == "receipt":
        text = "\n".join([f"*** {vendor} ***", f"{number}  {date}"]
                         + [f"{name[:18]:<18} {m(q * p):>12}" for name, q, p in items]
                         + [f"{w['tax']} {m(tax)}", f"TOTAL {m(total)}", f"({total:.2f} {CURRENCY_WORDS[currency]})"
                            if currency != "JPY" else f"({int(total)} {CURRENCY_WORDS[currency]})"])
    else:  # email: the invoice summarised in a forwarded message, with a previous invoice as a distractor
        prev = _invoice_number(year)
        text = "\n".join([f"From: accounts@{vendor.split()[0].lower()}.example",
                          f"Subject: {w['invoice']} {number}",
                          "",
                          f"Hello {customer} team,",
                          f"our {w['invoice'].lower()} {number} issued on {date} is attached. It replaces "
                          f"{w['invoice'].lower()} {prev}, which you can ignore.",
                          f"The amount due is {m(total)}, payable by {due}."]
                         + (["", *lines_items, *amounts[:-1]] if length != "short" else [])
                         + ["", "Regards,", f"{vendor} accounts team"])
    if length == "long":
        text += "\n\n" + _rng.choice([
            f"Bank: IBAN DE{_rng.randint(10**19, 10**20 - 1)}, BIC NWBKDEFF. Late payments incur 1.5% interest per month.",
            f"Customer number {_rng.randint(100000, 999999)}. Questions about this invoice: call +44 20 {_rng.randint(1000, 9999)} {_rng.randint(1000, 9999)}.",
            f"Terms: net 30. Goods remain our property until paid in full. {w['order']} {po}.",
        ])
    reference = {"invoice_number": number, "vendor": vendor, "date": f"{year:04d}-{month:02d}-{day:02d}",
                 "currency": currency, "total": total}
    return {"invoice_text": text, "reference": json.dumps(reference, ensure_ascii=False), "layout": layout,
            "currency": currency, "language": language, "length": length}


def invoice_extraction_cases() -> list[dict[str, str]]:
    cases = []
    languages = ["en"] * 5 + ["de", "fr", "es"] * 1
    for layout in LAYOUTS:
        for length in ("short", "medium", "long"):
            for _ in range(24):
                cases.append(_invoice_case(layout, _rng.choice(languages), length))
    _rng.shuffle(cases)
    return [{"id": f"inv-{i:04d}", **case} for i, case in enumerate(cases, start=1)]


# --------------------------------------------------------------------------------------------
def _jsonl(rows: list[dict[str, str]]) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode("utf-8")


COUNTS_BEGIN, COUNTS_END = "<!-- counts:begin (written by generate_demo_cases.py) -->", "<!-- counts:end -->"


def _counts_markdown(rows: list[dict[str, str]], fields: list[str]) -> str:
    """The dataset card's counts section: one small table per label or slice field."""
    out = [COUNTS_BEGIN, f"{len(rows)} cases.", ""]
    for field in fields:
        counts: dict[str, int] = {}
        for row in rows:
            counts[row[field]] = counts.get(row[field], 0) + 1
        out += [f"| {field} | cases |", "|---|---:|"]
        out += [f"| {value} | {n} |" for value, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
        out.append("")
    return "\n".join(out) + COUNTS_END


def _write(scenario: str, build: Callable[[], list[dict[str, str]]], check: bool) -> bool:
    """Write cases.jsonl, the contract's digest and the card's counts; True if anything changed."""
    folder = HERE / scenario
    rows = build()
    data = _jsonl(rows)
    card = folder / "CARD.md"
    card_text = card.read_text(encoding="utf-8") if card.is_file() else ""
    fields = COUNT_FIELDS[scenario]
    new_card = re.sub(re.escape(COUNTS_BEGIN) + ".*?" + re.escape(COUNTS_END),
                      lambda _: _counts_markdown(rows, fields), card_text, flags=re.S)
    cases, contract = folder / "cases.jsonl", folder / "scenario.yaml"
    digest = hashlib.sha256(data).hexdigest()
    text = contract.read_text(encoding="utf-8")
    new_text = re.sub(r'(\n  sha256: )"?[0-9a-fA-F]{64}"?', rf'\g<1>"{digest}"', text, count=1)
    changed = not cases.is_file() or cases.read_bytes() != data or new_text != text or new_card != card_text
    if not check:
        cases.write_bytes(data)
        contract.write_text(new_text, encoding="utf-8")
        card.write_text(new_card, encoding="utf-8")
        count = data.count(b"\n")
        print(f"{cases.relative_to(HERE.parent)}: {count} cases, sha256 {digest}")
    return changed


COUNT_FIELDS = {"support-triage": ["reference", "template", "channel", "language", "length"],
                "invoice-extraction": ["layout", "currency", "language", "length"]}


def main() -> int:
    global _rng
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a committed file would change")
    args = parser.parse_args()
    changed = False
    # one generator per scenario, each seeded on its own, so editing one leaves the other's bytes alone
    for offset, (scenario, build) in enumerate([("support-triage", support_triage_cases),
                                                ("invoice-extraction", invoice_extraction_cases)]):
        _rng = random.Random(SEED + offset)
        changed |= _write(scenario, build, args.check)
    if args.check and changed:
        print("cases or digests are stale: run python datasets/generate_demo_cases.py", file=sys.stderr)
        return 1
    return 0


_rng = random.Random(SEED)

if __name__ == "__main__":
    sys.exit(main())
