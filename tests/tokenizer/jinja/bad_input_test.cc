// Broken and hostile templates fail with a tide::Error that names the place and the problem;
// none of them may crash, hang, overflow the stack or exhaust memory.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "jinja_test_util.h"

namespace tide::jinja {
namespace {

using testing::error_of;
using testing::render;
using ::testing::HasSubstr;
using Json = nlohmann::ordered_json;

TEST(JinjaSyntaxErrors, UnknownAndUnsupportedTagsNameTheirLocation) {
  EXPECT_EQ(error_of("{% foo %}"), "t:1:4: unknown tag 'foo'");
  EXPECT_EQ(error_of("abc\n  {% include 'x.jinja' %}"), "t:2:6: unsupported tag 'include'");
  EXPECT_THAT(error_of("{% if x %}{% endfor %}{% endif %}"),
              HasSubstr("t:1:14: unexpected 'endfor': the innermost open block is 'if' at t:1:4"));
  EXPECT_THAT(error_of("{% endif %}"), HasSubstr("unexpected 'endif': no block is open"));
  EXPECT_THAT(error_of("{% for x in y recursive %}{% endfor %}"), HasSubstr("unsupported: recursive loops"));
  EXPECT_THAT(error_of("{% break %}"), HasSubstr("'break' outside of a loop"));
}

TEST(JinjaSyntaxErrors, UnknownFiltersAndTestsFailAtParseTime) {
  EXPECT_EQ(error_of("{{ x | xyz }}"), "t:1:8: unknown filter 'xyz'");
  EXPECT_EQ(error_of("{% if x is blue %}{% endif %}"), "t:1:12: unknown test 'blue'");
  EXPECT_THAT(error_of("{{ [1] | map('nope') | list }}"), HasSubstr("unknown filter 'nope'"));
}

TEST(JinjaSyntaxErrors, UnclosedConstructs) {
  EXPECT_EQ(error_of("{% if true %}abc"), "t:1:4: unclosed 'if' block: missing '{% endif %}'");
  EXPECT_THAT(error_of("x\n{% for a in b %}{% if a %}{% endif %}"), HasSubstr("t:2:4: unclosed 'for' block"));
  EXPECT_THAT(error_of("{{ x "), HasSubstr("t:1:1: unclosed tag: missing '}}'"));
  EXPECT_THAT(error_of("{% if x "), HasSubstr("unclosed tag: missing '%}'"));
  EXPECT_THAT(error_of("{# note"), HasSubstr("unclosed comment"));
  EXPECT_THAT(error_of("{% raw %}abc"), HasSubstr("unclosed 'raw' block"));
  EXPECT_EQ(error_of("{{ 'abc }}"), "t:1:4: unterminated string literal");
  EXPECT_THAT(error_of("{{ (1 }}"), HasSubstr("expected ')'"));
  EXPECT_THAT(error_of("{{ [1, 2) }}"), HasSubstr("unexpected ')', expected ']'"));
  EXPECT_THAT(error_of("{{ 1 + }}"), HasSubstr("unexpected '}}' in expression"));
  EXPECT_THAT(error_of("{{ x $ y }}"), HasSubstr("unexpected character '$'"));
  EXPECT_THAT(error_of("{% set true = 1 %}"), HasSubstr("cannot assign to 'true'"));
}

TEST(JinjaSyntaxErrors, DeepNestingIsAnErrorNotAStackOverflow) {
  const std::pair<std::string, std::string> nestings[] = {{"(", ")"}, {"[", "]"}, {"{'a': ", "}"}, {"-", ""}, {"not ", ""}};
  for (const auto& [open, close] : nestings) {
    std::string source = "{{ ";
    for (int i = 0; i < 100000; ++i) source += open;
    source += "1";
    for (int i = 0; i < 100000; ++i) source += close;
    EXPECT_THAT(error_of(source + " }}"), HasSubstr("nested too deeply")) << open;
  }
  std::string ifs;
  for (int i = 0; i < 100000; ++i) ifs += "{% if true %}";
  EXPECT_THAT(error_of(ifs), HasSubstr("nested too deeply"));
  std::string chain = "{{ 1";
  for (int i = 0; i < 100000; ++i) chain += " + 1";
  EXPECT_THAT(error_of(chain + " }}"), HasSubstr("nested too deeply"));
  std::string filters = "{{ 'a'";
  for (int i = 0; i < 100000; ++i) filters += " | trim";
  EXPECT_THAT(error_of(filters + " }}"), HasSubstr("nested too deeply"));
}

TEST(JinjaRuntimeErrors, UndefinedUsedAsAValue) {
  EXPECT_EQ(error_of("{{ missing.x }}"), "t:1:12: 'missing' is undefined");
  EXPECT_THAT(error_of("{{ d.a.b }}", {{"d", Json::object()}}), HasSubstr("'dict object' has no attribute 'a'"));
  EXPECT_THAT(error_of("{{ 'a' + missing }}"), HasSubstr("'missing' is undefined"));
  EXPECT_THAT(error_of("{{ missing() }}"), HasSubstr("'missing' is undefined"));
  EXPECT_THAT(error_of("{{ 'abc'.shout() }}"), HasSubstr("'str object' has no attribute 'shout'"));
  EXPECT_THAT(error_of("{{ missing | tojson }}"), HasSubstr("Object of type Undefined is not JSON serializable"));
  EXPECT_THAT(error_of("{{ missing | int }}"), HasSubstr("'missing' is undefined"));
  EXPECT_THAT(error_of("{{ [1] in {'a': 1} }}"), HasSubstr("unhashable type: 'list'"));
}

TEST(JinjaRuntimeErrors, TypeErrorsAreReportedNotCoerced) {
  EXPECT_EQ(error_of("{{ 'a' + 1 }}"), "t:1:8: unsupported operand types for +: 'str' and 'int'");
  EXPECT_THAT(error_of("{{ 'a' < 1 }}"), HasSubstr("'<' not supported between instances of 'str' and 'int'"));
  EXPECT_THAT(error_of("{{ 1 / 0 }}"), HasSubstr("division by zero"));
  EXPECT_THAT(error_of("{{ 9223372036854775807 + 1 }}"), HasSubstr("integer overflow"));
  EXPECT_THAT(error_of("{{ 99999999999999999999 }}"), HasSubstr("too large number"));
  EXPECT_THAT(error_of("{% for x in 5 %}{% endfor %}"), HasSubstr("'int' object is not iterable"));
  EXPECT_THAT(error_of("{{ 'x' | trim(1) }}"), HasSubstr("filter 'trim': expected a string, not int"));
  EXPECT_THAT(error_of("{{ 'x'.split(',', 1, 2) }}"), HasSubstr("split() takes at most 2 arguments (3 given)"));
  EXPECT_THAT(error_of("{{ 'x' | tojson(colour=1) }}"), HasSubstr("tojson() got an unexpected keyword argument 'colour'"));
  EXPECT_THAT(error_of("{% set x = 1 %}{% set x.y = 2 %}"), HasSubstr("'x' is not a namespace()"));
  EXPECT_THAT(error_of("{% set a, b = [1, 2, 3] %}"), HasSubstr("cannot unpack 3 values into 2 names"));
  EXPECT_THAT(error_of("{{ '%s' % 1 }}"), HasSubstr("string formatting with '%' is not supported"));
}

TEST(JinjaRuntimeErrors, RaiseExceptionStopsTheRender) {
  EXPECT_EQ(error_of("ok\n{{ raise_exception('Conversation roles must alternate') }}"),
            "t:2:4: template raised an exception: Conversation roles must alternate");
}

TEST(JinjaLimits, RunawayTemplatesHitALimit) {
  Limits few_iterations;
  few_iterations.max_loop_iterations = 10000;
  EXPECT_THAT(error_of("{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}", Json::object(),
                       few_iterations),
              HasSubstr("template ran more than 10000 loop iterations"));
  Limits small;
  small.max_output_bytes = 1000;
  EXPECT_THAT(error_of("{% for i in range(10000) %}xx{% endfor %}", Json::object(), small),
              HasSubstr("template output exceeds 1000 bytes"));
  EXPECT_THAT(error_of("{% set ns = namespace(s='ab') %}{% for i in range(100) %}{% set ns.s = ns.s + ns.s %}{% endfor %}"),
              HasSubstr("exceeds the template size limit"));
  EXPECT_THAT(error_of("{{ 'a' * 1000000000000 }}"), HasSubstr("exceeds the template size limit"));
  EXPECT_THAT(error_of("{{ [1, 2] * 1000000000000 }}"), HasSubstr("exceeds the template size limit"));
  EXPECT_THAT(error_of("{{ range(1000000000) }}"), HasSubstr("range() of more than 100000 items"));
  EXPECT_THAT(error_of("{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}"), HasSubstr("macro calls nested more than 32 deep"));
  Limits little_work;
  little_work.max_work = 100000;
  EXPECT_THAT(error_of("{% for i in range(100000) %}{{ 'abcdef' | upper }}{% endfor %}", Json::object(), little_work),
              HasSubstr("work limit"));
}

// Each macro level here nests 90 statements deep, so recursion reaches the interpreter's depth
// cap (and the deepest stack it allows) long before the macro call limit.
TEST(JinjaLimits, RuntimeNestingIsBounded) {
  std::string body;
  for (int i = 0; i < 90; ++i) body += "{% if true %}";
  body += "{{ f() }}";
  for (int i = 0; i < 90; ++i) body += "{% endif %}";
  EXPECT_THAT(error_of("{% macro f() %}" + body + "{% endmacro %}{{ f() }}"),
              HasSubstr("template nested too deeply while rendering"));
}

TEST(JinjaLimits, ValuesCannotFormCyclesOrNestWithoutBound) {
  EXPECT_THAT(error_of("{% set ns = namespace() %}{% set ns.x = [ns] %}"), HasSubstr("cannot hold a namespace"));
  EXPECT_THAT(error_of("{% set ns = namespace(l=[]) %}{% for i in range(1000) %}{% set ns.l = [ns.l] %}{% endfor %}"),
              HasSubstr("nested more than 256 levels deep"));
  Json deep = Json::array();
  for (int i = 0; i < 1000; ++i) deep = Json::array({deep});
  EXPECT_THROW(from_json(deep), tide::Error);
}

TEST(JinjaLimits, LargeRequestObjectsStayCheap) {
  std::string text = "{";
  for (int i = 0; i < 200000; ++i) text += (i > 0 ? ",\"k" : "\"k") + std::to_string(i) + "\":" + std::to_string(i);
  Dict context;
  context.set("d", from_json(nlohmann::json::parse(text + "}")));
  EXPECT_EQ(Template::parse("{{ d | length }} {{ d['k199999'] }} {{ d.k7 }}", "t").render(context), "200000 199999 7");
}

TEST(JinjaBadBytes, InvalidUtf8NeverCrashes) {
  const std::string bad = "a\xff\xfe\xc3(b\xe2\x82";
  EXPECT_EQ(render("x" + bad + "{{ 1 }}"), "x" + bad + "1");
  const Dict context = [&] {
    Dict dict;
    dict.set("s", Value::string(bad));
    return dict;
  }();
  const Template tmpl = Template::parse(
      "{{ s }}|{{ s | length }}|{{ s[::-1] | length }}|{{ s | upper }}|{{ s | tojson }}|{{ s.split() }}|{{ [s] }}|"
      "{{ s.strip() }}|{{ s | title }}",
      "t");
  const std::string out = tmpl.render(context);
  EXPECT_EQ(out.substr(0, bad.size()), bad);
  EXPECT_THAT(out, HasSubstr("|8|8|"));
  EXPECT_THAT(out, HasSubstr("\"a\xEF\xBF\xBD\xEF\xBF\xBD"));  // tojson writes U+FFFD
  EXPECT_THAT(error_of("{{ '\xff" "abc }}"), HasSubstr("unterminated string literal"));
  EXPECT_THAT(error_of("{{ \xe4\xb8\xad }}"), HasSubstr("unexpected character '\xe4\xb8\xad'"));
}

}  // namespace
}  // namespace tide::jinja
