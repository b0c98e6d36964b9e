/// <reference types="node" />
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setLang } from './i18n';
import { formatClock, formatDateTimeSec, formatDuration, formatSpan, inputToRFC3339, parseTime, spanProblem, toInputValue } from './time';

describe('datetime-local values', () => {
  it('become RFC 3339 in UTC, read in the browser time zone', () => {
    assert.equal(inputToRFC3339(''), '');
    assert.equal(inputToRFC3339('  '), '');
    assert.equal(inputToRFC3339(undefined), '');
    assert.equal(inputToRFC3339('2025-03-04T10:05'), new Date(2025, 2, 4, 10, 5).toISOString());
    assert.equal(inputToRFC3339('2025-03-04T10:05:07'), new Date(2025, 2, 4, 10, 5, 7).toISOString());
    assert.equal(inputToRFC3339('2025-03-04T10:05:07.5'), new Date(2025, 2, 4, 10, 5, 7, 500).toISOString());
  });
  it('keep an explicit zone', () => {
    assert.equal(inputToRFC3339('2025-03-04T18:00:00+08:00'), '2025-03-04T10:00:00.000Z');
    assert.equal(inputToRFC3339('2025-03-04T10:00:00Z'), '2025-03-04T10:00:00.000Z');
  });
  it('refuse junk and impossible dates', () => {
    assert.equal(inputToRFC3339('yesterday'), null);
    assert.equal(inputToRFC3339('2025-02-30T10:00'), null);
    assert.equal(inputToRFC3339('2025-03-04'), null);
  });
  it('round-trip', () => {
    const d = new Date(2025, 11, 31, 23, 59, 58);
    assert.equal(toInputValue(d), '2025-12-31T23:59:58');
    assert.equal(inputToRFC3339(toInputValue(d)), d.toISOString());
    assert.equal(toInputValue(d.toISOString()), '2025-12-31T23:59:58');
    assert.equal(toInputValue(d.getTime()), '2025-12-31T23:59:58');
    assert.equal(toInputValue('junk'), '');
    assert.equal(toInputValue(null), '');
  });
  it('check a span', () => {
    assert.equal(spanProblem('', ''), null);
    assert.equal(spanProblem('x', ''), 'time.badFrom');
    assert.equal(spanProblem('', 'x'), 'time.badTo');
    assert.equal(spanProblem('2025-03-04T10:00', '2025-03-04T10:00'), null);
    assert.equal(spanProblem('2025-03-04T10:01', '2025-03-04T10:00'), 'time.fromAfterTo');
  });
});

describe('time text', () => {
  it('formats a player clock in tenths', () => {
    assert.equal(formatClock(0), '0:00.0');
    assert.equal(formatClock(7.36), '0:07.3');
    assert.equal(formatClock(20), '0:20.0');
    assert.equal(formatClock(725.05), '12:05.0');
    assert.equal(formatClock(3723.4), '1:02:03.4');
    assert.equal(formatClock(NaN), '0:00.0');
    assert.equal(formatClock(-3), '0:00.0');
  });
  it('names durations in both languages', () => {
    setLang('en', false);
    assert.equal(formatDuration(20), '20 s');
    assert.equal(formatDuration(65), '1 min 5 s');
    assert.equal(formatDuration(3720), '1 h 2 min');
    assert.equal(formatDuration(-1), '');
    setLang('zh-CN', false);
    assert.equal(formatDuration(20), '20 秒');
    assert.equal(formatDuration(65), '1 分 5 秒');
    setLang('en', false);
  });
  it('formats times to the second and spans', () => {
    assert.equal(formatDateTimeSec(null), '');
    assert.equal(formatDateTimeSec('junk'), 'junk');
    assert.match(formatDateTimeSec('2025-03-04T10:00:05Z', 'en'), /2025.*:05/);
    setLang('en', false);
    const s = formatSpan('2025-03-04T10:00:05Z', '2025-03-04T10:00:25Z', 'en');
    assert.match(s, /–/);
    assert.match(s, /\(20 s\)$/);
    assert.equal(formatSpan('2025-03-04T10:00:05Z', '2025-03-04T10:00:05Z', 'en'), formatDateTimeSec('2025-03-04T10:00:05Z', 'en'));
    assert.equal(formatSpan('junk', null), 'junk');
    assert.ok(Number.isNaN(parseTime(null)));
  });
});
