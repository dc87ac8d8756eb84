"""A relay that answers 451 to every recipient: mail mx1 cannot take never
reaches the relay (claim 1b)."""
from tests.variants import run_relay


def patch():
    from servers.smtpd import recipients, replies

    def refuse(self, mailbox):
        raise replies.Refused(replies.STORAGE_FAILED)
    recipients.RecipientPolicy.check_recipient = refuse


if __name__ == "__main__":
    run_relay(patch)
