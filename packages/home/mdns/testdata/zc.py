#!/usr/bin/python3
# An independent mDNS/DNS-SD client (Debian's python3-zeroconf) for the
# mdns package's test: browse TYPE and print each instance as JSON, or
# resolve NAME's A records with a legacy unicast query.
#   zc.py browse _oepc._tcp.local. SECONDS
#   zc.py resolve oepc.local. SECONDS
import json, socket, sys, time
import zeroconf
from zeroconf import Zeroconf, ServiceBrowser, DNSOutgoing, DNSQuestion, DNSIncoming

def browse(stype, secs):
    zc = Zeroconf(interfaces=["127.0.0.1"])
    found = {}
    class L:
        def add_service(self, zc, t, name): found[name] = True
        def update_service(self, zc, t, name): found[name] = True
        def remove_service(self, zc, t, name): pass
    ServiceBrowser(zc, stype, L())
    deadline = time.time() + secs
    while not found and time.time() < deadline:
        time.sleep(0.1)
    out = []
    for name in found:
        info = zc.get_service_info(stype, name, timeout=3000)
        if info is None:
            continue
        out.append({
            "name": name,
            "server": info.server,
            "port": info.port,
            "addresses": sorted(info.parsed_addresses()),
            "txt": {k.decode(): (v.decode() if v is not None else None) for k, v in info.properties.items()},
        })
    zc.close()
    print(json.dumps(out))

def resolve(name, secs):
    out = DNSOutgoing(zeroconf.const._FLAGS_QR_QUERY)
    out.add_question(DNSQuestion(name, zeroconf.const._TYPE_A, zeroconf.const._CLASS_IN))
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(0.5)
    addrs = set()
    deadline = time.time() + secs
    while not addrs and time.time() < deadline:
        for pkt in out.packets():
            s.sendto(pkt, ("224.0.0.251", 5353))
        try:
            while True:
                data, _ = s.recvfrom(9000)
                inc = DNSIncoming(data)
                answers = inc.answers() if callable(inc.answers) else inc.answers
                for rr in answers:
                    if rr.type == zeroconf.const._TYPE_A and rr.name.lower() == name.lower():
                        addrs.add(socket.inet_ntoa(rr.address))
        except socket.timeout:
            pass
    print(json.dumps(sorted(addrs)))

if __name__ == "__main__":
    {"browse": browse, "resolve": resolve}[sys.argv[1]](sys.argv[2], float(sys.argv[3]))
