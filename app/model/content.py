"""Messages a journey sends: emails, text messages and push notifications, each Draft or Ready to send."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

ContentKind = Literal["email", "sms", "push"]
ContentStatus = Literal["draft", "ready"]
CONTENT_KINDS: tuple[str, ...] = ("email", "sms", "push")
CONTENT_STATUSES: tuple[str, ...] = ("draft", "ready")
# Personalization tokens: {{first_name}}, {{ contact.first_name }}, {{account.name}}.
TOKEN = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")


@dataclass(frozen=True)
class Content:
    """One message. Email uses subject / sender / body / links; text and push use text (push also title)."""

    name: str
    kind: ContentKind
    status: ContentStatus = "draft"
    subject: str = ""
    sender: str = ""
    body: str = ""
    links: tuple[str, ...] = ()
    text: str = ""
    title: str = ""

    def tokens(self) -> list[str]:
        """The attribute names its personalization tokens refer to (a `contact.` prefix is dropped)."""
        found = []
        for part in (self.subject, self.body, self.text, self.title):
            for m in TOKEN.finditer(part):
                name = m.group(1)
                found.append(name[len("contact."):] if name.startswith("contact.") else name)
        return found
