/** A small site: sensors publish to a broker; cameras stay local. */
export const SITE = [
  { apiVersion: 'cordon/v1', kind: 'Segment', metadata: { name: 'sensors' }, spec: { cidrs: ['10.10.1.0/24'] } },
  { apiVersion: 'cordon/v1', kind: 'Segment', metadata: { name: 'broker' }, spec: { cidrs: ['10.10.9.0/24'] } },
  { apiVersion: 'cordon/v1', kind: 'Segment', metadata: { name: 'cameras' }, spec: { cidrs: ['10.10.2.0/24'], selector: { type: 'camera' } } },
  { apiVersion: 'cordon/v1', kind: 'Device', metadata: { name: 'cam-07', labels: { type: 'camera' } }, spec: { mac: '02:00:00:00:00:07', addresses: ['10.10.2.7'] } },
  {
    apiVersion: 'cordon/v1',
    kind: 'Policy',
    metadata: { name: 'sensors-to-broker' },
    spec: { from: ['sensors'], to: ['broker'], allow: [{ protocol: 'tcp', ports: ['8883'] }] },
  },
  {
    apiVersion: 'cordon/v1',
    kind: 'PolicyTest',
    metadata: { name: 'basics' },
    spec: [
      { from: 'sensors', to: 'broker', protocol: 'tcp', port: 8883, expect: 'allow' },
      { from: 'cam-07', to: '203.0.113.9', protocol: 'tcp', port: 443, expect: 'deny' },
    ],
  },
];

export const SITE_YAML = `
apiVersion: cordon/v1
kind: Segment
metadata: { name: sensors }
spec:
  cidrs: [10.10.1.0/24]
---
apiVersion: cordon/v1
kind: Segment
metadata: { name: broker }
spec:
  cidrs: [10.10.9.0/24]
---
apiVersion: cordon/v1
kind: Policy
metadata: { name: sensors-to-broker }
spec:
  from: [sensors]
  to: [broker]
  allow:
    - { protocol: tcp, ports: ["8883"] }
`;
