import t from 'tap';
import { DaqError, isVisaResource, parseVisaResource } from '@daq/core';

t.test('valid names parse to their parts and a canonical form', async (t) => {
  const cases: [string, Record<string, unknown>][] = [
    [
      'TCPIP0::192.168.1.100::INSTR',
      {
        interface: 'TCPIP',
        resourceClass: 'INSTR',
        board: 0,
        host: '192.168.1.100',
        deviceName: 'inst0',
        canonical: 'TCPIP0::192.168.1.100::inst0::INSTR',
      },
    ],
    [
      'tcpip::lab-dmm.example.org::hislip0::instr',
      {
        interface: 'TCPIP',
        resourceClass: 'INSTR',
        host: 'lab-dmm.example.org',
        deviceName: 'hislip0',
        canonical: 'TCPIP0::lab-dmm.example.org::hislip0::INSTR',
      },
    ],
    [
      'TCPIP0::127.0.0.1::5025::SOCKET',
      {
        interface: 'TCPIP',
        resourceClass: 'SOCKET',
        host: '127.0.0.1',
        port: 5025,
        canonical: 'TCPIP0::127.0.0.1::5025::SOCKET',
      },
    ],
    ['TCPIP1::[::1]::40127::socket', { board: 1, host: '[::1]', port: 40127, canonical: 'TCPIP1::[::1]::40127::SOCKET' }],
    ['TCPIP0::[fe80::1]', { host: '[fe80::1]', canonical: 'TCPIP0::[fe80::1]::inst0::INSTR' }],
    ['TCPIP::10.0.0.5', { resourceClass: 'INSTR', canonical: 'TCPIP0::10.0.0.5::inst0::INSTR' }],
    ['ASRL/dev/ttyUSB0::INSTR', { interface: 'ASRL', path: '/dev/ttyUSB0', canonical: 'ASRL/dev/ttyUSB0::INSTR' }],
    ['asrl3::instr', { interface: 'ASRL', board: 3, path: '/dev/ttyS2', canonical: 'ASRL3::INSTR' }],
    ['ASRL1', { path: '/dev/ttyS0', canonical: 'ASRL1::INSTR' }],
    ['GPIB0::22::INSTR', { interface: 'GPIB', primary: 22, canonical: 'GPIB0::22::INSTR' }],
    ['gpib1::5::12', { board: 1, primary: 5, secondary: 12, canonical: 'GPIB1::5::12::INSTR' }],
    [
      'USB0::0x0957::0x1796::MY12345678::INSTR',
      {
        interface: 'USB',
        vendorId: 0x0957,
        productId: 0x1796,
        serial: 'MY12345678',
        canonical: 'USB0::0x0957::0x1796::MY12345678::INSTR',
      },
    ],
    [
      'usb::2391::6038::SN1::0::raw',
      { resourceClass: 'RAW', vendorId: 2391, usbInterface: 0, canonical: 'USB0::0x0957::0x1796::SN1::0::RAW' },
    ],
  ];
  for (const [name, expected] of cases) {
    t.match(parseVisaResource(name), { input: name, ...expected }, name);
    t.ok(isVisaResource(name));
  }
});

t.test('invalid names are rejected with the reason and the expected form', async (t) => {
  const cases: [string, RegExp][] = [
    ['', /it is empty/],
    ['TCPIP0::', /the host address is missing \(expected TCPIP\[board\]::host/],
    ['TCPIP0', /the address is missing/],
    ['TCPIP0::bad host::INSTR', /"bad host" is not a host name/],
    ['TCPIP0::300.1.1.1::INSTR', /"300.1.1.1" is not a host name or IP address/],
    ['TCPIP0::10.0.0.1::5025::INSTR', /"5025" looks like a port: a raw socket ends with ::SOCKET/],
    ['TCPIP0::10.0.0.1::70000::SOCKET', /port "70000" is not a number from 1 to 65535/],
    ['TCPIP0::10.0.0.1::SOCKET', /a SOCKET resource needs exactly a host and a port/],
    ['TCPIP0::10.0.0.1::a::b::INSTR', /too many fields/],
    ['TCPIP0::10.0.0.1::RAW', /resource class "RAW" is not valid for TCPIP/],
    ['TCPIP0::10.0.0.1::::INSTR', /an empty field/],
    ['TCPIPx::host::INSTR', /unexpected "x::host::INSTR" after TCPIP/],
    ['ASRL', /the port number or device path is missing/],
    ['ASRL0::INSTR', /ASRL ports are numbered from 1/],
    ['ASRL2/dev/ttyS1::INSTR', /either a board number or a device path/],
    ['ASRL1::SOCKET', /resource class "SOCKET" is not valid for ASRL/],
    ['ASRL1 x', /unexpected text after the board number/],
    ['GPIB0::31::INSTR', /primary address "31" is not 0-30/],
    ['GPIB0::1::40::INSTR', /secondary address "40" is not 0-30/],
    ['GPIB0::1::2::3', /expected a primary and an optional secondary address/],
    ['GPIB0::INTFC', /resource class "INTFC" is not supported for GPIB/],
    ['USB0::0x0957::INSTR', /expected vendor id, product id, serial number/],
    ['USB0::0x1FFFF::1::S::INSTR', /vendor id "0x1FFFF" is not a 16-bit number/],
    ['USB0::1::zz::S::INSTR', /product id "zz" is not a 16-bit number/],
    ['USB0::1::2::S::300::INSTR', /interface number "300" is not 0-255/],
    ['USB0::1::2::S::SOCKET', /resource class "SOCKET" is not valid for USB/],
    ['VXI0::1::INSTR', /interface "VXI" is not supported \(use ASRL, TCPIP, GPIB or USB\)/],
    ['::1', /it must start with an interface/],
    ['TCPIP0::[::1]x::5025::SOCKET', /"\[::1\]x::5025::SOCKET" is not a host name/],
    ['TCPIP0::[::1', /"\[" is not a host name/],
  ];
  for (const [name, reason] of cases) {
    t.throws(() => parseVisaResource(name), { code: 'DAQ_VISA_RESOURCE', message: reason, facts: { resource: name } }, name);
    t.notOk(isVisaResource(name), name);
  }
  const err = t.throws(() => parseVisaResource('TCPIP0::')) as unknown as DaqError;
  t.ok(err instanceof DaqError);
  t.match(err.message, /^"TCPIP0::" is not a VISA resource name: /);
});
