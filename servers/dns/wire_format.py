"""DNS messages from the wire, tolerant of what dnslib alone refuses.

dnslib's parser rejects records with empty RDATA, which RFC 2136 uses for
prerequisites and deletions, and it does not say where a TSIG record starts,
which verification needs. This parser fixes both and turns every failure on
hostile input into MessageError.
"""
import struct

from dnslib import QTYPE, RCODE, RD, RR, DNSBuffer, DNSHeader, DNSQuestion, DNSRecord

HEADER_LEN = 12


class MessageError(ValueError):
    pass


def _rr(buffer):
    start = buffer.offset
    name = buffer.decode_name()
    rtype, rclass, ttl, rdlength = buffer.unpack("!HHIH")
    if rdlength == 0:
        return RR(name, rtype, rclass, ttl, [] if rtype == QTYPE.OPT else RD(b""))
    end = buffer.offset + rdlength
    buffer.offset = start
    rr = RR.parse(buffer)
    if buffer.offset != end:
        raise MessageError("RDATA of %s is not %d bytes long" % (name, rdlength))
    return rr


def parse(packet):
    """A DNSRecord with ``tsig_offset`` (where its TSIG RR starts, or None)."""
    buffer = DNSBuffer(packet)
    try:
        header = DNSHeader.parse(buffer)
        questions = [DNSQuestion.parse(buffer) for _ in range(header.q)]
        answers = [_rr(buffer) for _ in range(header.a)]
        authority = [_rr(buffer) for _ in range(header.auth)]
        additional, tsig_offset = [], None
        for i in range(header.ar):
            offset = buffer.offset
            rr = _rr(buffer)
            if rr.rtype == QTYPE.TSIG:
                if i != header.ar - 1:
                    raise MessageError("TSIG is not the last record")
                tsig_offset = offset
            additional.append(rr)
        if buffer.remaining():
            raise MessageError("%d bytes after the last record" % buffer.remaining())
    except MessageError:
        raise
    except Exception as e:      # hostile input reaches odd corners of dnslib
        raise MessageError("malformed message: %s" % e) from None
    record = DNSRecord(header, questions, answers, auth=authority, ar=additional)
    try:
        record.pack()   # what we cannot write back (say, a 100-byte label) we cannot echo
    except Exception as e:
        raise MessageError("malformed message: %s" % e) from None
    record.tsig_offset = tsig_offset
    return record


def header_reply(packet, rcode):
    """A bare reply (header only) to a query we cannot otherwise answer, or
    None when not worth one (too short to carry an ID, or itself a response:
    never answer those)."""
    if len(packet) < HEADER_LEN:
        return None
    msg_id, flags = struct.unpack("!HH", packet[:4])
    if flags & 0x8000:
        return None
    flags = 0x8000 | (flags & 0x7800) | rcode
    return struct.pack("!HHHHHH", msg_id, flags, 0, 0, 0, 0)


def reply_to(request, rcode=RCODE.NOERROR):
    """The skeleton of a reply: same ID, opcode, RD and questions; QR set."""
    header = DNSHeader(id=request.header.id, qr=1, opcode=request.header.opcode,
                       rd=request.header.rd, rcode=rcode)
    return DNSRecord(header, questions=list(request.questions))
