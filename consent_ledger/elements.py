"""The elements a consent form must contain, checked before a consent may be active.

- 42 CFR 2.31(a) as amended in 2024 (regulations.md P2-CONSENT-231) for a consent whose scope
  covers Part 2 records; 45 CFR 164.508(c) (HIPAA-AUTH-508) for every consent, since outside
  treatment, payment and operations a consent here is an authorization.
- Each missing element is reported by its citation and name, e.g. `2.31(a)(8) signature`.
- A form carrying everything can still be invalid for other reasons (see `separation_problems`).

Pure: works on `ConsentForm`, what `fhir.py` found in the FHIR text.
"""

from __future__ import annotations

from dataclasses import dataclass

from policies.vocabulary import DataClass, PurposeOfUse

TPO_PURPOSES = frozenset({PurposeOfUse.TREAT, PurposeOfUse.HPAYMT, PurposeOfUse.HOPERAT})


class Statement:
    """Codes of the required statements (extension `consent-statement`, see README)."""

    RIGHT_TO_REVOKE = "right-to-revoke"
    REDISCLOSURE = "redisclosure"
    NO_CONDITIONING = "no-conditioning"
    REFUSAL_CONSEQUENCES = "refusal-consequences"


@dataclass(frozen=True)
class ConsentForm:
    """Which elements the FHIR text carries (presence only; values stay in the sealed form)."""

    patient_name: bool
    discloser: bool
    information_description: bool
    recipients: bool
    purposes: frozenset[PurposeOfUse]
    expiration: bool  # a period end or a named expiry event
    signature: bool
    date_signed: bool
    statements: frozenset[str]
    scope: frozenset[DataClass]


# (element name, FHIR location where it belongs)
PART2_ELEMENTS: tuple[tuple[str, str], ...] = (
    ("2.31(a)(1) patient name", "Consent.patient.display"),
    ("2.31(a)(2) who may disclose", "Consent.organization"),
    ("2.31(a)(3) description of the information", "Consent.provision.code"),
    ("2.31(a)(4) recipients", "Consent.provision.actor"),
    ("2.31(a)(5) purpose", "Consent.provision.purpose"),
    ("2.31(a)(6) right to revoke and how", "Consent.extension:consent-statement"),
    ("2.31(a)(7) expiration date or event", "Consent.provision.period.end"),
    ("2.31(a)(8) signature", "Consent.extension:signature"),
    ("2.31(a)(9) date signed", "Consent.dateTime"),
    ("2.31(a)(4)(iii) redisclosure statement", "Consent.extension:consent-statement"),
    ("2.31(a)(10) consequences of refusing to sign", "Consent.extension:consent-statement"),
)

HIPAA_ELEMENTS: tuple[tuple[str, str], ...] = (
    ("164.508(c)(1)(i) description of the information", "Consent.provision.code"),
    ("164.508(c)(1)(ii) who may disclose", "Consent.organization"),
    ("164.508(c)(1)(iii) recipients", "Consent.provision.actor"),
    ("164.508(c)(1)(iv) purpose", "Consent.provision.purpose"),
    ("164.508(c)(1)(v) expiration date or event", "Consent.provision.period.end"),
    ("164.508(c)(1)(vi) signature and date", "Consent.extension:signature"),
    ("164.508(c)(2)(i) right to revoke", "Consent.extension:consent-statement"),
    ("164.508(c)(2)(ii) treatment not conditioned on signing", "Consent.extension:consent-statement"),
    ("164.508(c)(2)(iii) redisclosure statement", "Consent.extension:consent-statement"),
)


def part2_missing(form: ConsentForm) -> list[tuple[str, str]]:
    """The 2.31(a) elements the form lacks; the TPO statements only for a TPO consent."""
    tpo = bool(form.purposes & TPO_PURPOSES)
    present = {
        "2.31(a)(1) patient name": form.patient_name,
        "2.31(a)(2) who may disclose": form.discloser,
        "2.31(a)(3) description of the information": form.information_description,
        "2.31(a)(4) recipients": form.recipients,
        "2.31(a)(5) purpose": bool(form.purposes),
        "2.31(a)(6) right to revoke and how": Statement.RIGHT_TO_REVOKE in form.statements,
        "2.31(a)(7) expiration date or event": form.expiration,
        "2.31(a)(8) signature": form.signature,
        "2.31(a)(9) date signed": form.date_signed,
        "2.31(a)(4)(iii) redisclosure statement": not tpo or Statement.REDISCLOSURE in form.statements,
        "2.31(a)(10) consequences of refusing to sign": not tpo
        or Statement.REFUSAL_CONSEQUENCES in form.statements,
    }
    return [(name, where) for name, where in PART2_ELEMENTS if not present[name]]


def hipaa_missing(form: ConsentForm) -> list[tuple[str, str]]:
    """The 164.508(c) core elements and required statements the form lacks."""
    present = {
        "164.508(c)(1)(i) description of the information": form.information_description,
        "164.508(c)(1)(ii) who may disclose": form.discloser,
        "164.508(c)(1)(iii) recipients": form.recipients,
        "164.508(c)(1)(iv) purpose": bool(form.purposes),
        "164.508(c)(1)(v) expiration date or event": form.expiration,
        "164.508(c)(1)(vi) signature and date": form.signature and form.date_signed,
        "164.508(c)(2)(i) right to revoke": Statement.RIGHT_TO_REVOKE in form.statements,
        "164.508(c)(2)(ii) treatment not conditioned on signing": Statement.NO_CONDITIONING
        in form.statements,
        "164.508(c)(2)(iii) redisclosure statement": Statement.REDISCLOSURE in form.statements,
    }
    return [(name, where) for name, where in HIPAA_ELEMENTS if not present[name]]


def separation_problems(form: ConsentForm) -> list[tuple[str, str]]:
    """Consents the rules require to stand alone: (reason, location) for each one combined."""
    problems = []
    if DataClass.PSYCHOTHERAPY_NOTES in form.scope and len(form.scope) > 1:
        problems.append(
            (
                "an authorization for psychotherapy notes may not be combined with other data "
                "(45 CFR 164.508(b)(3)(ii)); record it as a separate consent",
                "Consent.provision.securityLabel",
            )
        )
    if DataClass.PART2 in form.scope and PurposeOfUse.LAW in form.purposes and len(form.purposes) > 1:
        problems.append(
            (
                "a Part 2 consent to use records in proceedings against the patient must be separate "
                "from other consents (42 CFR 2.31, 2024); record it on its own",
                "Consent.provision.purpose",
            )
        )
    return problems
