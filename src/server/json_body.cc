#include "server/json_body.h"

#include "server/api_error.h"

namespace tide::server {
namespace {

struct TooDeep {};

}  // namespace

nlohmann::ordered_json parse_json_body(std::string_view body, int max_depth) {
  if (body.empty()) throw ApiError(400, "the request body is empty; send a JSON object");
  // The callback sees every container as it opens, with the number of containers around it.
  using Json = nlohmann::ordered_json;
  auto limit_depth = [max_depth](int depth, Json::parse_event_t event, Json&) {
    if ((event == Json::parse_event_t::object_start || event == Json::parse_event_t::array_start) &&
        depth >= max_depth)
      throw TooDeep{};
    return true;
  };
  try {
    return Json::parse(body.begin(), body.end(), limit_depth);
  } catch (const TooDeep&) {
    throw ApiError(400, fmt::format("the request JSON is nested deeper than {} levels", max_depth));
  } catch (const Json::parse_error& e) {
    // e.what() reads "[json.exception.parse_error.101] parse error at line 1, column 5: ...";
    // the part after the id is what a client can act on.
    std::string what = e.what();
    if (const auto pos = what.find("] "); pos != std::string::npos) what = what.substr(pos + 2);
    throw ApiError(400, "the request body is not valid JSON: " + what);
  } catch (const Json::out_of_range&) {
    // A number too large for a double, e.g. 1E473.
    throw ApiError(400, "the request body holds a number out of range");
  }
}

}  // namespace tide::server
