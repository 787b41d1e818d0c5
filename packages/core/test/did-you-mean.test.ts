import t from 'tap';
import { closestMatch, didYouMean, editDistance } from '@daq/core';

t.test('edit distance counts a swap of neighbours as one edit', async (t) => {
  t.equal(editDistance('baud_rate', 'baud_rate'), 0);
  t.equal(editDistance('bad_rate', 'baud_rate'), 1);
  t.equal(editDistance('nosie', 'noise'), 1);
  t.equal(editDistance('', 'abc'), 3);
});

t.test('hints only for likely typos', async (t) => {
  t.equal(closestMatch('Eliptec', ['Elliptec', 'MaiTai']), 'Elliptec');
  t.equal(closestMatch('BROKR', ['broker', 'v2']), 'broker', 'case-insensitive');
  t.equal(closestMatch('camera', ['baud_rate', 'address']), undefined);
  t.equal(didYouMean('xyz', []), '');
  t.equal(didYouMean('nme', ['name']), '; did you mean "name"?');
});
