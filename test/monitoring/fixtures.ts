// SPDX-License-Identifier: Apache-2.0
/** An RFC 8520 MUD file in the shape of the RFC's own example (appendix), with networks instead of DNS names. */
export const LIGHTBULB_MUD = {
  'ietf-mud:mud': {
    'mud-version': 1,
    'mud-url': 'https://lighting.example.com/lightbulb2000.json',
    'last-update': '2019-01-28T11:20:51+01:00',
    'cache-validity': 48,
    'is-supported': true,
    systeminfo: 'The BMS Example Light Bulb',
    'from-device-policy': { 'access-lists': { 'access-list': [{ name: 'mud-76100-v4fr' }] } },
    'to-device-policy': { 'access-lists': { 'access-list': [{ name: 'mud-76100-v4to' }] } },
  },
  'ietf-access-control-list:acls': {
    acl: [
      {
        name: 'mud-76100-v4to',
        type: 'ipv4-acl-type',
        aces: {
          ace: [
            {
              name: 'cl0-todev',
              matches: { ipv4: { 'source-ipv4-network': '198.51.100.0/24', protocol: 6 }, tcp: { 'ietf-mud:direction-initiated': 'from-device', 'source-port': { operator: 'eq', port: 443 } } },
              actions: { forwarding: 'accept' },
            },
            {
              name: 'mgmt-todev',
              matches: { ipv4: { 'source-ipv4-network': '192.0.2.0/28', protocol: 17 }, udp: { 'destination-port': { operator: 'eq', port: 5683 } } },
              actions: { forwarding: 'accept' },
            },
          ],
        },
      },
      {
        name: 'mud-76100-v4fr',
        type: 'ipv4-acl-type',
        aces: {
          ace: [
            {
              name: 'cl0-frdev',
              matches: { ipv4: { 'destination-ipv4-network': '198.51.100.0/24', protocol: 6 }, tcp: { 'ietf-mud:direction-initiated': 'from-device', 'destination-port': { operator: 'eq', port: 443 } } },
              actions: { forwarding: 'accept' },
            },
            {
              name: 'ntp-frdev',
              matches: { ipv4: { protocol: 17 }, udp: { 'destination-port': { 'lower-port': 123, 'upper-port': 124 } } },
              actions: { forwarding: 'accept' },
            },
          ],
        },
      },
    ],
  },
};
