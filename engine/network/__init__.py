"""Bridge networking (issue 13): the default bridge, its addresses (ipam),
a container's veth pair in its own network namespace (links, the only
importer of pyroute2), NAT and published ports (iptables), /etc/hosts and
resolv.conf (files), what a start and an end do (endpoint). See docs/network.md."""
