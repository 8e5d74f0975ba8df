#!/usr/bin/env python3
"""Writes a data-center-sized plan for bench/scale.sh: N hosts in 3 zones (half in pangyo, the
burning zone), 64 power domains spread over the zones in proportion, the hosts written as host
groups (`count:`, a few lines a zone; the etcd hosts kv-ZONE one by one), three etcd members (one per
zone) and a power loss of the whole pangyo zone, with a sever of two ansan power domains from
gasan later on; with SEVERS, that many more faults, each a power domain of ansan or gasan severed
from pangyo for 10 s, one a second (a plan of many moments). Usage: scale_plan.py HOSTS [SEVERS] > plan.yaml"""
import sys


def zone_hosts(zone, count, pds):
    """The zone's hosts: kv-ZONE in ZONE-00, the others as host groups (count:). Power domain d
    holds the hosts i with i % pds == d, as when each host was a line of its own; the domains that
    hold as many group hosts share one group, which spreads them evenly in the domains' order."""
    per = [count // pds + (1 if d < count % pds else 0) for d in range(pds)]
    lines = []
    if count:
        lines.append("    - { name: kv-%s, zone: %s, power_domain: %s-00 }" % (zone, zone, zone))
        per[0] -= 1
    by_size = {}
    for d, k in enumerate(per):
        if k:
            by_size.setdefault(k, []).append("%s-%02d" % (zone, d))
    # The group over the most domains is ZONE-h, the others ZONE-h2, ZONE-h3.
    for g, (k, domains) in enumerate(sorted(by_size.items(), key=lambda kd: (-len(kd[1]), kd[0]))):
        name = "%s-h" % zone if g == 0 else "%s-h%d" % (zone, g + 1)
        where = "" if len(domains) == pds else ", power_domain: " + (
            domains[0] if len(domains) == 1 else "[%s]" % ", ".join(domains))
        lines.append("    - { name: %s, count: %d, zone: %s%s }" % (name, k * len(domains), zone, where))
    return lines


def main():
    n = int(sys.argv[1])
    severs = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    zones = [("pangyo", "198.18.0.0/17", n // 2), ("ansan", "198.18.128.0/17", n // 4),
             ("gasan", "198.19.0.0/17", n - n // 2 - n // 4)]
    pds = {"pangyo": 32, "ansan": 16, "gasan": 16}
    out = ["name: scale-%d" % n,
           "description: power loss of the pangyo zone in a lab of %d hosts" % n,
           "topology:", "  zones:"]
    for z, subnet, _ in zones:
        names = ", ".join("%s-%02d" % (z, i) for i in range(pds[z]))
        out.append("    - { name: %s, power_domains: [%s], subnet: %s }" % (z, names, subnet))
    out.append("  hosts:")
    for z, _, count in zones:
        out += zone_hosts(z, count, pds[z])
    tail = """lab:
  ready_timeout: 60s
  services:
    - name: etcd
      hosts: [kv-pangyo, kv-ansan, kv-gasan]
      port: 2379
      volume: { name: etcd-data, volatile: true }
      command: >-
        etcd --name {host} --data-dir {volume}
        --listen-client-urls http://{addr}:2379 --advertise-client-urls http://{addr}:2379
        --listen-peer-urls http://{addr}:2380 --initial-advertise-peer-urls http://{addr}:2380
        --initial-cluster {each:etcd:{host}=http://{addr}:2380}
        --initial-cluster-state new --initial-cluster-token {lab}
      ready: { tcp: "{addr}:2379", timeout: 30s }
steady_state:
  probes:
    - name: kv-read
      tcp: "{addr:kv-ansan}:2379"
      in: control
      every: 500ms
      timeout: 2s
      slo: { success_rate: 0.9, window: 10s }
method:
  - name: pangyo-power
    fault: power_loss
    at: 5s
    duration: 60s
    target: { zone: pangyo }
    mode: kill
  - name: ansan-split
    fault: sever
    at: 20s
    duration: 10s
    target: { power_domain: [ansan-00, ansan-01] }
    peer: { zone: gasan }
safety:
  max_duration: 4m
  blast_radius: { max_hosts: 60%, max_zones: 2, max_power_domains: 40 }
  protected:
    - { zone: control }
  abort_when:
    - { probe: kv-read, success_rate_below: 0.5, for: 5s }
"""
    extra = "".join("  - { name: s%d, fault: sever, at: %ds, duration: 10s, target: { power_domain: %s-%02d }, "
                    "peer: { zone: pangyo } }\n" % (k, 5 + k, ("ansan", "gasan")[k % 2], k % 16) for k in range(severs))
    tail = tail.replace("safety:\n", extra + "safety:\n", 1)
    out += tail.rstrip("\n").split("\n")
    print("\n".join(out))


main()
