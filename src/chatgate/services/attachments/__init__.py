"""Files attached to questions: sniffing (`sniff`), images (`images`), documents (`documents`),
and their life from upload to deletion (`store`)."""

from chatgate.services.attachments.store import Attachments

__all__ = ["Attachments"]
