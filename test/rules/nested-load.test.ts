import { compile, errorsFor } from './helpers';

describe('nested claims in the rules file', () => {
  it('compiles member, index and append targets', () => {
    const ruleSet = compile(`rules:
  - name: nested
    claims:
      - { name: employee_profile, member: department, value: Oncology, tokens: [id] }
      - { name: employee_profile, member: [address, city], value: Paris, tokens: [id] }
      - { name: preferred_clinics, append: true, value: west, tokens: [id] }
      - { name: preferred_clinics, index: 0, value: north, tokens: [id] }
    remove:
      - { name: employee_profile, member: employee_id, tokens: [id] }
      - { name: preferred_clinics, index: 1, tokens: [id] }
`);
    const rule = ruleSet.rules[0]!;
    expect(rule.claims.map((c) => c.at)).toEqual([{ member: ['department'] }, { member: ['address', 'city'] }, { append: true }, { index: 0 }]);
    expect(rule.remove.map((c) => c.at)).toEqual([{ member: ['employee_id'] }, { index: 1 }]);
  });

  it('rejects malformed targets and a claim changed whole and in part by one rule', () => {
    expect(
      errorsFor(`rules:
  - name: bad
    claims:
      - { name: a, member: [], value: 1 }
      - { name: b, index: -1, value: 1 }
      - { name: c, append: false, value: 1 }
      - { name: d, append: true, index: 0, value: 1 }
      - { name: e, value: {} }
      - { name: e, member: x, value: 1 }
    remove:
      - { name: f, append: true }
`),
    ).toEqual([
      'rules.yaml: rule "bad" (#1): claims[0].member: must be a member name, or a list of up to 8 names for a deeper member (member: [address, city]), got a list (line 4)',
      'rules.yaml: rule "bad" (#1): claims[1].index: must be an array position from 0 to 9999, got number -1 (line 5)',
      'rules.yaml: rule "bad" (#1): claims[2].append: must be true (adds value at the end of the array), got boolean false (line 6)',
      'rules.yaml: rule "bad" (#1): claims[3].append: cannot be combined with index (append adds at the end; index replaces one element) (line 7)',
      'rules.yaml: rule "bad" (#1): claims[5].name: "e" is set or removed as a whole by claims[4] of this rule; change e.x inside that value instead (line 9)',
      'rules.yaml: rule "bad" (#1): remove[0].append: unknown key (allowed: name, member, index, tokens) (line 11)',
    ]);
  });
});
