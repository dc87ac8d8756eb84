"""SMTP conversations put back together from captured segments (lab.evidence.smtp_wire)."""
from lab.evidence import smtp_wire, wire
from lab.evidence.records import Frame

C, S = "10.0.1.20", "10.0.1.10"


def seg(ts, a, b, seq, data, point="relay"):
    return Frame(ts, point, "", "", "tcp", a, b, sport=40001 if a == C else 25,
                 dport=25 if a == C else 40001, flags="PA", seq=seq, payload=data)


def conversation():
    client = [b"EHLO r\r\n", b"MAIL FROM:<a@b>\r\n", b"RCPT TO:<u@x>\r\n", b"DATA\r\n",
              b"Message-ID:\r\n <m-1@x>\r\nSubject: s\r\n\r\nbo", b"dy\r\n.\r\n", b"QUIT\r\n"]
    server = [b"220 hi\r\n", b"250-x\r\n250 ok\r\n", b"250 ok\r\n", b"250 ok\r\n",
              b"354 go\r\n", b"250 stored\r\n", b"221 bye\r\n"]
    frames, cs, ss = [], 100, 900
    for i, (c, s) in enumerate(zip(client, server)):
        frames.append(seg(1.0 + i, S, C, ss, s))
        frames.append(seg(1.0 + i + 0.5, C, S, cs, c))
        cs, ss = cs + len(c), ss + len(s)
    return frames


def test_a_message_is_found_with_its_id_and_the_servers_reply():
    [m] = smtp_wire.messages(conversation())
    assert (m.client, m.server, m.msgid, m.code, m.ts) == (C, S, "<m-1@x>", 250, 6.0)


def test_out_of_order_and_retransmitted_segments_are_placed_once():
    frames = conversation()
    frames = list(reversed(frames)) + frames[3:6]
    [m] = smtp_wire.messages(frames)
    assert m.msgid == "<m-1@x>" and m.code == 250


def test_a_hole_in_the_stream_or_data_that_never_ended_is_no_message():
    frames = [f for f in conversation() if f.payload != b"dy\r\n.\r\n"]
    assert smtp_wire.messages(frames) == []


def test_a_real_pcap_is_read_back_with_payloads(tmp_path):
    from scapy.layers.inet import IP, TCP
    from scapy.layers.l2 import Ether
    from scapy.utils import wrpcap
    pkts = []
    for f in conversation():
        p = Ether() / IP(src=f.src_ip, dst=f.dst_ip) / TCP(sport=f.sport, dport=f.dport,
                                                          flags="PA", seq=f.seq) / f.payload
        p.time = f.ts
        pkts.append(p)
    path = str(tmp_path / "wire.pcap")
    wrpcap(path, pkts)
    [m] = smtp_wire.messages(wire.read_frames(path, "relay"))
    assert m.msgid == "<m-1@x>" and m.code == 250
