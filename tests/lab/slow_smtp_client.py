"""Send one message whose DATA trickles in slowly, for the reset fault test:
slow_smtp_client.py IP PORT CHUNKS. Prints 'OK', or 'FAILED <error>' naming
the exception (a reset shows as ConnectionResetError or SMTPServerDisconnected)."""
import smtplib
import sys
import time

ip, port, chunks = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
try:
    s = smtplib.SMTP(ip, port, timeout=10)
    s.ehlo("client.lab")
    s.mail("a@lab")
    s.rcpt("b@lab")
    code, _ = s.docmd("DATA")
    assert code == 354, code
    s.send(b"Subject: slow\r\n\r\n")
    for i in range(chunks):
        s.send(b"line %05d of a slowly written message body .....................\r\n" % i)
        time.sleep(0.02)  # wait: the point is to be mid-DATA when the RST comes
    s.send(b".\r\n")
    code, msg = s.getreply()
    print("OK %d" % code if code == 250 else "FAILED reply %d" % code)
except Exception as e:
    print("FAILED %s %s" % (type(e).__name__, e))
