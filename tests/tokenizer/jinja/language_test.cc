// The template language itself. Expected strings are what Jinja 3.1 prints with the settings
// transformers uses (trim_blocks, lstrip_blocks, loopcontrols, its tojson).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "jinja_test_util.h"

namespace tide::jinja {
namespace {

using testing::render;
using Json = nlohmann::ordered_json;

TEST(JinjaWhitespace, DashStripsAllWhitespaceOnItsSide) {
  EXPECT_EQ(render("a  {{- 'b' -}}  c"), "abc");
  EXPECT_EQ(render("a\n  {%- if true %}x{% endif -%}\n  b"), "axb");
  EXPECT_EQ(render("a \n {#- note -#} \n b"), "ab");
  EXPECT_EQ(render("a\u3000{{- 'b' }}"), "ab");  // Unicode whitespace counts, as in Python
}

TEST(JinjaWhitespace, TrimBlocksRemovesTheNewlineAfterABlockTag) {
  EXPECT_EQ(render("{% if true %}\nyes\n{% endif %}\nafter"), "yes\nafter");
  EXPECT_EQ(render("{# comment #}\nx"), "x");
  EXPECT_EQ(render("{{ 'a' }}\nb"), "a\nb");  // not after expressions
  EXPECT_EQ(render("{% if true +%}\nx{% endif %}"), "\nx");  // '+' keeps it
}

TEST(JinjaWhitespace, LstripBlocksRemovesIndentationBeforeABlockTag) {
  EXPECT_EQ(render("  {% if true %}\n  x\n  {% endif %}\n  y {# c #}\n  {#- c2 #}  z"), "  x\n  y   z");
  EXPECT_EQ(render("a  {% if true %}b{% endif %}"), "a  b");  // not the first thing on its line
  EXPECT_EQ(render("  {%+ if true %}x{% endif %}"), "  x");
  EXPECT_EQ(render("  {{ 'a' }}"), "  a");
}

TEST(JinjaWhitespace, OptionsCanBeTurnedOff) {
  const SyntaxOptions plain{false, false};
  EXPECT_EQ(Template::parse("  {% if true %}\nyes\n{% endif %}", "t", plain).render({}), "  \nyes\n");
}

TEST(JinjaWhitespace, NewlinesAreNormalisedAndOneTrailingNewlineDropped) {
  EXPECT_EQ(render("a\r\nb\rc\n"), "a\nb\nc");
  EXPECT_EQ(render("a\n\n"), "a\n");
}

TEST(JinjaWhitespace, RawBlocksAreText) {
  EXPECT_EQ(render("{% raw %}{{ x }}{% if %}{% endraw %}"), "{{ x }}{% if %}");
  EXPECT_EQ(render("{%- raw -%}  a  {%- endraw %}"), "a");
}

TEST(JinjaExpressions, OperatorPrecedenceFollowsJinja) {
  EXPECT_EQ(render("{{ 1 + 2 * 3 ** 2 }} {{ 2 ** 3 ** 2 }} {{ -2 ** 2 }} {{ 10 - 2 - 3 }}"), "19 64 4 5");
  EXPECT_EQ(render("{{ not true or true }} {{ not (true or true) }} {{ 2 * 3 ~ 4 }} {{ 'x' ~ 2 * 3 }}"),
            "True False 64 x6");
  EXPECT_EQ(render("{{ 'a' + 'b' | upper }} {{ -3 | abs }} {{ 1 - -1 }}"), "aB 3 2");
  EXPECT_EQ(render("{{ 1 < 2 < 3 }} {{ 3 > 2 > 2 }} {{ 1 == 1.0 }} {{ true == 1 }} {{ 'a' != 'b' }}"),
            "True False True True True");
}

TEST(JinjaExpressions, ArithmeticFollowsPython) {
  EXPECT_EQ(render("{{ 7 // 2 }} {{ -7 // 2 }} {{ -7 % 3 }} {{ 7 % -3 }} {{ 7 / 2 }} {{ 4 / 2 }} {{ 2 ** -1 }}"),
            "3 -4 2 -2 3.5 2.0 0.5");
  EXPECT_EQ(render("{{ 7.5 % 2 }} {{ -7.5 // 2 }} {{ 1e300 * 1e300 }} {{ true + true }}"), "1.5 -4.0 inf 2");
  EXPECT_EQ(render("{{ 'ab' * 3 }}|{{ 3 * 'b' }}|{{ 'x' * -1 }}|{{ [1] * 2 }}|{{ [1, 2] + [3] }}"),
            "ababab|bbb||[1, 1]|[1, 2, 3]");
}

TEST(JinjaExpressions, FloatsPrintLikePythonRepr) {
  EXPECT_EQ(render("{{ 0.1 + 0.2 }} {{ 100.0 }} {{ 1e15 }} {{ 1e16 }} {{ 1.5e16 }} {{ 0.0001 }} {{ 1e-5 }} {{ -0.0 }}"),
            "0.30000000000000004 100.0 1000000000000000.0 1e+16 1.5e+16 0.0001 1e-05 -0.0");
  EXPECT_EQ(render("{{ 123456789012345678.0 }} {{ 0.00001234 }} {{ 2.5 }}"), "1.2345678901234568e+17 1.234e-05 2.5");
}

TEST(JinjaExpressions, LiteralsAndPrinting) {
  EXPECT_EQ(render("{{ [1, 'a', none, true, 1.5, {'k': [1]}] }}"), "[1, 'a', None, True, 1.5, {'k': [1]}]");
  EXPECT_EQ(render("{{ (1,) }} {{ (1, 2) }} {{ () }} {{ 1, 2 }} {{ {} }} {{ [] }}"), "(1,) (1, 2) () (1, 2) {} []");
  EXPECT_EQ(render("{{ none }} {{ None }} {{ True }} {{ false }}"), "None None True False");
  EXPECT_EQ(render(R"({{ ['a\'b', 'c"d', 'e\'f"', '\n\t\\'] }})"), R"(["a'b", 'c"d', 'e\'f"', '\n\t\\'])");
  EXPECT_EQ(render(R"({{ '\u00e9\x41\t|' }}{{ 'a' 'b' }}{{ "q\"" }}{{ '\d' }})"), "\xC3\xA9" "A\t|abq\"\\d");
  EXPECT_EQ(render("{{ 0x1F }} {{ 0o17 }} {{ 0b101 }} {{ 1_000 }} {{ 1.5e3 }}"), "31 15 5 1000 1500.0");
}

TEST(JinjaExpressions, ConditionalsAndBooleanOperatorsReturnOperands) {
  EXPECT_EQ(render("{{ 'a' if true else 'b' }}|{{ 'a' if false }}|{{ 'a' if false else 'b' if true else 'c' }}"), "a||b");
  EXPECT_EQ(render("{{ 0 or 'x' }} {{ 'a' and 'b' }} {{ none or [] }} {{ '' and 1 }}|"), "x b [] |");
}

TEST(JinjaExpressions, MembershipTests) {
  EXPECT_EQ(render("{{ 1 in [1, 2] }} {{ 'ab' in 'cabd' }} {{ 'a' in {'a': 1} }} {{ 3 not in [1] }} {{ 'x' in missing }}"),
            "True True True True False");
}

TEST(JinjaVariables, UndefinedHandling) {
  const Json context = {{"d", Json::object()}, {"n", nullptr}};
  EXPECT_EQ(render("[{{ missing }}][{{ d.missing }}][{{ d['missing'] }}][{{ n.x }}]", context), "[][][][]");
  EXPECT_EQ(render("{{ missing is defined }} {{ d.missing is defined }} {{ d.missing is undefined }} {{ n is defined }}",
                   context),
            "False False True True");
  EXPECT_EQ(render("{{ missing | default('x') }} {{ n | default('x') }} {{ n | default('x', true) }} {{ missing | length }}",
                   context),
            "x None x 0");
  EXPECT_EQ(render("{% for x in missing %}x{% else %}empty{% endfor %} {{ missing ~ 'a' }} {{ missing == missing }}"),
            "empty a True");
  EXPECT_EQ(render("{% if not missing %}falsy{% endif %} {{ missing | string }}|"), "falsy |");
}

TEST(JinjaVariables, SetScoping) {
  EXPECT_EQ(render("{% if true %}{% set y = 3 %}{% endif %}{{ y }}"), "3");
  EXPECT_EQ(render("{% set x = 5 %}{% for i in [1, 2] %}[{{ x }}]{% set x = i %}{% endfor %}<{{ x }}>"), "[5][5]<5>");
  EXPECT_EQ(render("{% set a, b = 1, 2 %}{{ a }}{{ b }}{% set (c, d) = [3, 4] %}{{ c }}{{ d }}"), "1234");
  EXPECT_EQ(render("{% set x %}  a {{ 1 }} {% endset %}[{{ x }}]{% set y | upper | trim %} b {% endset %}[{{ y }}]"),
            "[  a 1 ][B]");
  EXPECT_EQ(render("{% set messages = messages[1:] %}{{ messages }}", {{"messages", {1, 2, 3}}}), "[2, 3]");
}

TEST(JinjaVariables, NamespaceCarriesStateOutOfLoops) {
  EXPECT_EQ(render("{% set ns = namespace(count=0, names='') %}{% for i in range(4) %}{% set ns.count = ns.count + i %}"
                   "{% endfor %}{{ ns.count }} {{ ns }}"),
            "6 <Namespace {'count': 6, 'names': ''}>");
  EXPECT_EQ(render("{% set ns = namespace({'a': 1}, b=2) %}{{ ns.a }}{{ ns.b }}{{ ns.c is defined }}"), "12False");
}

TEST(JinjaLoops, LoopVariables) {
  EXPECT_EQ(render("{% for x in [1, 2, 3] %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }}"
                   "{{ loop.first }}{{ loop.last }}{{ loop.length }};{% endfor %}"),
            "1032TrueFalse3;2121FalseFalse3;3210FalseTrue3;");
  EXPECT_EQ(render("{% for i in range(2) %}{{ loop.previtem }}-{{ loop.nextitem }};{% endfor %}"), "-1;0-;");
  EXPECT_EQ(render("{% for i in range(3) %}{{ loop.cycle('a', 'b') }}{% endfor %}"), "aba");
  EXPECT_EQ(render("{% for a in [1, 2] %}{% for b in [3] %}{{ loop.index }}{{ a }}{{ loop.depth }}{% endfor %}{% endfor %}"),
            "112122");
}

TEST(JinjaLoops, ElseFilterBreakContinueAndUnpacking) {
  EXPECT_EQ(render("{% for x in [] %}x{% else %}empty{% endfor %}"), "empty");
  EXPECT_EQ(render("{% for x in [1, 2, 3, 4] if x is odd %}{{ loop.index }}:{{ x }}/{{ loop.length }} {% endfor %}"),
            "1:1/2 2:3/2 ");
  EXPECT_EQ(render("{% for x in [1, 2, 3, 4] %}{% if x == 2 %}{% continue %}{% endif %}{{ x }}"
                   "{% if x == 3 %}{% break %}{% endif %}{% endfor %}"),
            "13");
  EXPECT_EQ(render("{% for k, v in {'b': 1, 'a': 2}.items() %}{{ k }}={{ v }};{% endfor %}"), "b=1;a=2;");
  EXPECT_EQ(render("{% for c in 'h\u00e9' %}[{{ c }}]{% endfor %}{% for k in {'p': 1, 'q': 2} %}{{ k }}{% endfor %}"),
            "[h][\u00e9]pq");
}

TEST(JinjaAccess, SlicingAndIndexing) {
  const Json context = {{"xs", {1, 2, 3}}};
  EXPECT_EQ(render("{{ xs[1:] }} {{ xs[:-1] }} {{ xs[::-1] }} {{ xs[-1] }} {{ xs[5:10] }} {{ xs[-10:2] }} [{{ xs[5] }}]", context),
            "[2, 3] [1, 2] [3, 2, 1] 3 [] [1, 2] []");
  EXPECT_EQ(render("{{ 'hello'[1:3] }} {{ 'hello'[::2] }} {{ 'hello'[4:1:-1] }} {{ 'a\u00e9\u4e2d'[1] }} {{ 'a\u00e9\u4e2d'[::-1] }}"),
            "el hlo oll \u00e9 \u4e2d\u00e9a");
  EXPECT_EQ(render("{{ {'a': {'b': [10, 20]}}.a.b.1 }} {{ {'a': 1}['a'] }}"), "20 1");
}

TEST(JinjaMethods, StringMethods) {
  EXPECT_EQ(render("{{ 'a b  c'.split() }} {{ 'a,b,c'.split(',', 1) }} {{ ' a  b '.split(' ') }} {{ ''.split() }} {{ ''.split(',') }}"),
            "['a', 'b', 'c'] ['a', 'b,c'] ['', 'a', '', 'b', ''] [] ['']");
  EXPECT_EQ(render("{{ 'a.b.c'.rsplit('.', 1) }} {{ '  a b c  '.rsplit(None, 1) }} {{ 'x</think>y</think>z'.split('</think>')[-1] }}"),
            "['a.b', 'c'] ['  a b', 'c'] z");
  EXPECT_EQ(render("[{{ '  x \n'.strip() }}][{{ 'xxaxx'.strip('x') }}][{{ '  a'.lstrip() }}][{{ 'a  '.rstrip() }}][{{ 'a\u3000'.strip() }}]"),
            "[x][a][a][a][a]");
  EXPECT_EQ(render("{{ 'abc'.startswith('a') }} {{ 'abc'.startswith(('x', 'a')) }} {{ 'abc'.endswith('bc') }}"),
            "True True True");
  EXPECT_EQ(render("{{ 'Hello'.upper() }} {{ 'Hello'.lower() }} {{ 'hello world'.title() }} {{ 'hELLO'.capitalize() }}"),
            "HELLO hello Hello World Hello");
  EXPECT_EQ(render("{{ 'aaa'.replace('a', 'b', 2) }} {{ 'abc'.replace('', '-') }} {{ 'h\u00e9llo'.find('l') }} {{ 'aXbXc'.count('X') }}"),
            "bba -a-b-c- 2 2");
  EXPECT_EQ(render("{{ ', '.join(['a', 'b']) }} {{ 'a\nb\r\nc'.splitlines() }} {{ '12'.isdigit() }} {{ '\u00e9'.upper() }}"),
            "a, b ['a', 'b', 'c'] True \u00c9");
}

TEST(JinjaMethods, DictAndListMethods) {
  EXPECT_EQ(render("{{ {'a': 1}.get('a') }} {{ {'a': 1}.get('b') }} {{ {'a': 1}.get('b', 2) }}"), "1 None 2");
  EXPECT_EQ(render("{{ {'a': 1, 'b': 2}.keys() }} {{ {'a': 1}.values() }} {{ {'a': 1}.items() }}"),
            "['a', 'b'] [1] [('a', 1)]");
  EXPECT_EQ(render("{{ [1, 2, 1].count(1) }} {{ [1, 2].index(2) }}"), "2 1");
}

TEST(JinjaFilters, TextFilters) {
  EXPECT_EQ(render("[{{ '  a  ' | trim }}][{{ 'xxaxx' | trim('x') }}][{{ 'abc' | upper }}][{{ 'ABC' | lower }}]"),
            "[a][a][ABC][abc]");
  EXPECT_EQ(render("{{ 'hello world-foo' | title }} {{ 'hELLO' | capitalize }} {{ 'abc' | replace('b', 'X') }}"),
            "Hello World-Foo Hello aXc");
  EXPECT_EQ(render("{{ 'a\u00e9\u4e2d' | length }} {{ [1, 2] | count }} {{ {'a': 1} | length }} {{ 42 | string }}"),
            "3 2 1 42");
  EXPECT_EQ(render("{{ '<a href=\"x\">&\\'' | e }} {{ '<b>' | safe }}"), "&lt;a href=&#34;x&#34;&gt;&amp;&#39; <b>");
  EXPECT_EQ(render("{{ 'a' | indent(2) }}|{{ 'a\nb\n\nc' | indent(2) }}|{{ 'a\nb' | indent(2, true) }}|{{ 'a\n\nb' | indent(2, blank=true) }}"),
            "a|a\n  b\n\n  c|  a\n  b|a\n  \n  b");
}

TEST(JinjaFilters, NumberFilters) {
  EXPECT_EQ(render("{{ 3 | int }} {{ -3.7 | int }} {{ '0x1A' | int(base=16) }} {{ ' 12 ' | int }} {{ '3.5' | int }} {{ 'x' | int }}"),
            "3 -3 26 12 3 0");
  EXPECT_EQ(render("{{ '1e3' | float }} {{ 'a' | float }} {{ 2 | float }} {{ -2.5 | abs }}"), "1000.0 0.0 2.0 2.5");
  EXPECT_EQ(render("{{ 2.5 | round }} {{ 3.5 | round }} {{ 2.567 | round(2) }} {{ 2.1 | round(0, 'ceil') }} {{ 3 | round }}"),
            "2.0 4.0 2.57 3.0 3");
}

TEST(JinjaFilters, SequenceFilters) {
  EXPECT_EQ(render("{{ [1, 2, 3] | first }} {{ [1, 2, 3] | last }} [{{ [] | first }}] {{ 'abc' | first }} {{ [1, 2] | join(',') }}"),
            "1 3 [] a 1,2");
  EXPECT_EQ(render("{{ [3, 1, 2] | sort }} {{ ['b', 'A', 'a'] | sort }} {{ [2, 1] | sort(reverse=true) }}"),
            "[1, 2, 3] ['A', 'a', 'b'] [2, 1]");
  EXPECT_EQ(render("{{ [{'n': 'b'}, {'n': 'a'}] | sort(attribute='n') }} {{ [1, 1, 2] | unique | list }} {{ 'ab' | reverse }}"),
            "[{'n': 'a'}, {'n': 'b'}] [1, 2] ba");
  EXPECT_EQ(render("{{ [3, 1] | max }} {{ [3, 1] | min }} {{ [1, 2] | sum }} {{ [{'v': 2}, {'v': 3}] | sum(attribute='v') }}"),
            "3 1 3 5");
  EXPECT_EQ(render("{{ {'b': 1, 'a': 2} | items | list }} {{ {'b': 1, 'a': 2} | dictsort }} {{ {'b': 1, 'a': 2} | dictsort(by='value') }}"),
            "[('b', 1), ('a', 2)] [('a', 2), ('b', 1)] [('b', 1), ('a', 2)]");
  EXPECT_EQ(render("{{ 'ab' | list }} {{ {'a': 1} | list }} {{ [1, 'a'] | join }} {{ [{'n': 1}, {'n': 2}] | join(',', attribute='n') }}"),
            "['a', 'b'] ['a'] 1a 1,2");
}

TEST(JinjaFilters, SelectAndMap) {
  EXPECT_EQ(render("{{ [{'a': 1}, {'a': 2}, {'b': 3}] | selectattr('a') | list }} {{ [{'a': 1}, {'a': 2}] | selectattr('a', 'equalto', 2) | list }}"),
            "[{'a': 1}, {'a': 2}] [{'a': 2}]");
  EXPECT_EQ(render("{{ [{'a': 1}, {'b': 2}] | rejectattr('a', 'defined') | list }} {{ ['a', 'code_interpreter', 'b'] | reject('equalto', 'code_interpreter') | join(', ') }}"),
            "[{'b': 2}] a, b");
  EXPECT_EQ(render("{{ [1, 2, 3, 4] | select('odd') | list }} {{ [0, 1, ''] | select | list }}"), "[1, 3] [1]");
  EXPECT_EQ(render("{{ [{'f': {'n': 'x'}}, {'f': {'n': 'y'}}] | map(attribute='f.n') | join }} {{ ['a', 'b'] | map('upper') | list }} {{ [{}] | map(attribute='z', default=0) | list }}"),
            "xy ['A', 'B'] [0]");
}

// Jinja's select, map, items, unique and reverse return generators: iterable, but always true
// and without a length, so a template that tests one without |list takes the same branch here.
TEST(JinjaFilters, GeneratorResultsBehaveLikePythonGenerators) {
  EXPECT_EQ(render("{% if [] | selectattr('a') %}always{% endif %}|{% if [] | select | list %}never{% endif %}"), "always|");
  EXPECT_EQ(render("{{ [1, 2] | map('string') is sequence }} {{ [1, 2] | map('string') is iterable }} {{ [2, 1] | reverse | list }}"),
            "False True [1, 2]");
  EXPECT_THAT(testing::error_of("{{ [1] | select | length }}"), ::testing::HasSubstr("object of type 'generator' has no len()"));
  EXPECT_THAT(testing::error_of("{{ ([1] | select)[0] }}"), ::testing::HasSubstr("'generator' object is not subscriptable"));
}

TEST(JinjaFilters, ToJsonMatchesPythonJsonDumps) {
  const Json context = {{"tool", {{"name", "f"}, {"description", "\u00e9 \"q\" \u4e2d\n"}, {"n", 1.0}, {"flags", {true, nullptr}}}}};
  EXPECT_EQ(render("{{ tool | tojson }}", context),
            R"({"name": "f", "description": "é \"q\" 中\n", "n": 1.0, "flags": [true, null]})");
  EXPECT_EQ(render("{{ tool | tojson(indent=2) }}", context),
            "{\n  \"name\": \"f\",\n  \"description\": \"\u00e9 \\\"q\\\" \u4e2d\\n\",\n  \"n\": 1.0,\n  \"flags\": [\n    true,\n    null\n  ]\n}");
  EXPECT_EQ(render("{{ tool | tojson(sort_keys=true, separators=[',', ':']) }}", context),
            R"({"description":"é \"q\" 中\n","flags":[true,null],"n":1.0,"name":"f"})");
  EXPECT_EQ(render("{{ '\u4e2d\U0001F600' | tojson(ensure_ascii=true) }} {{ '\u0001\u007f<>&' | tojson }} {{ 1e20 | tojson }}"),
            R"("\u4e2d\ud83d\ude00" "\u0001)" "\x7f" R"(<>&" 1e+20)");
  EXPECT_EQ(render("{{ [] | tojson(indent=2) }}|{{ [[]] | tojson(indent=2) }}|{{ [1, 2] | tojson(indent=0) }}|{{ 'x' | tojson }}"),
            "[]|[\n  []\n]|[\n1,\n2\n]|\"x\"");
}

TEST(JinjaTests, BuiltinTests) {
  EXPECT_EQ(render("{{ 'a' is string }} {{ 1 is string }} {{ 1 is number }} {{ true is number }} {{ true is integer }} {{ 1.5 is float }}"),
            "True False True True False True");
  EXPECT_EQ(render("{{ {} is mapping }} {{ [] is mapping }} {{ 'x' is iterable }} {{ 1 is iterable }} {{ [1] is sequence }}"),
            "True False True False True");
  EXPECT_EQ(render("{{ none is none }} {{ 0 is none }} {{ x is not none }} {{ true is boolean }} {{ false is false }} {{ 1 is true }}"),
            "True False True True True False");
  EXPECT_EQ(render("{{ 3.0 is odd }} {{ 0.5 is even }} {{ 0.5 is odd }}"), "True False False");
  EXPECT_EQ(render("{{ 3 is odd }} {{ 2 is even }} {{ 9 is divisibleby 3 }} {{ 9 is divisibleby(4) }} {{ 2 is gt 1 }} {{ 1 is in [1] }}"),
            "True True True False True True");
  EXPECT_EQ(render("{{ 'ab' is lower }} {{ 'AB' is upper }} {{ range is callable }} {{ 1 is sameas 1 }} {{ 'upper' is filter }}"),
            "True True True True True");
}

TEST(JinjaMacros, MacrosCallsAndScopes) {
  EXPECT_EQ(render("{% macro m(a, b='d') %}[{{ a }}|{{ b }}]{% endmacro %}{{ m(1) }}{{ m(1, 2) }}{{ m(b=3, a=4) }}{{ m() }}"),
            "[1|d][1|2][4|3][|d]");
  EXPECT_EQ(render("{% macro m() %}{{ x }}{% endmacro %}{% set x = 1 %}{{ m() }}"), "1");
  EXPECT_EQ(render("{% for i in [7] %}{% macro m() %}{{ i }}{% endmacro %}{{ m() }}{% endfor %}"), "7");
  EXPECT_EQ(render("{% macro m() %}<{{ caller() }}>{% endmacro %}{% call m() %}body{% endcall %}"), "<body>");
  EXPECT_EQ(render("{% macro m() %}<{{ caller(5) }}>{% endmacro %}{% call(x) m() %}v{{ x }}{% endcall %}"), "<v5>");
  EXPECT_EQ(render("{% macro f(n) %}{% if n > 0 %}{{ n }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(3) }}"), "321");
}

TEST(JinjaBlocks, WithFilterAndGenerationBlocks) {
  EXPECT_EQ(render("{% with a = 1, b = 2 %}{{ a + b }}{% endwith %}[{{ a }}]"), "3[]");
  EXPECT_EQ(render("{% filter upper %}abc{% endfilter %}{% filter trim | upper %}  x  {% endfilter %}"), "ABCX");
  EXPECT_EQ(render("{% generation %}answer{% endgeneration %}"), "answer");
}

TEST(JinjaGlobals, RangeDictAndStrftime) {
  EXPECT_EQ(render("{{ range(3) | list }} {{ range(1, 7, 2) | list }} {{ range(3, 0, -1) | list }} {{ dict(a=1, b='x') }}"),
            "[0, 1, 2] [1, 3, 5] [3, 2, 1] {'a': 1, 'b': 'x'}");
  const std::string date = render("{{ strftime_now('%d %b %Y') }}");
  EXPECT_EQ(date.size(), 11u) << date;
  EXPECT_EQ(render("{% set range = 5 %}{{ range }}"), "5");  // the template's names win
}

TEST(JinjaTemplate, OneTemplateRendersFromSeveralThreadsAtOnce) {
  const Template tmpl = Template::parse("{% set ns = namespace(s='') %}{% for m in messages %}{% set ns.s = ns.s + m %}"
                                        "{% endfor %}{{ ns.s }}", "t");
  const Dict context = from_json(Json{{"messages", {"a", "b", "c"}}}).as_dict();
  std::vector<std::string> results(4);
  std::vector<std::thread> threads;
  for (std::string& result : results) {
    threads.emplace_back([&] {
      for (int i = 0; i < 200; ++i) result = tmpl.render(context);
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (const std::string& result : results) EXPECT_EQ(result, "abc");
  EXPECT_EQ(tmpl.name(), "t");
}

}  // namespace
}  // namespace tide::jinja
