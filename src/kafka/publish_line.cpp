#include "switchyard/kafka/publish_line.h"

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace switchyard {

namespace {

bool is_blank(std::string_view text) {
  return text.find_first_not_of(" \t\r\n") == std::string_view::npos;
}

bool ends_with(std::string_view text, std::string_view suffix) {
  return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

PublishLine rejected(std::string reason) {
  PublishLine out;
  out.kind = PublishLineKind::kRejected;
  out.error = std::move(reason);
  return out;
}

std::string to_json(const rapidjson::Value& value) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  value.Accept(writer);
  return std::string(buffer.GetString(), buffer.GetSize());
}

PublishLine from_request_event(std::string_view line, rapidjson::Document& doc,
                               const std::string& default_team) {
  const rapidjson::Value& id = doc["request_id"];
  if (!id.IsString() || id.GetStringLength() == 0) {
    return rejected("request_id must be a non-empty string");
  }
  PublishLine out;
  out.kind = PublishLineKind::kRequestEvent;
  out.request_id.assign(id.GetString(), id.GetStringLength());

  auto team = doc.FindMember("team");
  bool has_team =
      team != doc.MemberEnd() && !(team->value.IsString() && team->value.GetStringLength() == 0);
  if (has_team || default_team.empty()) {
    out.value.assign(line);  // as it is: the worker validates, and answers with an error result
    return out;
  }
  rapidjson::Value team_value(default_team.c_str(),
                              static_cast<rapidjson::SizeType>(default_team.size()),
                              doc.GetAllocator());
  if (team != doc.MemberEnd()) {
    team->value = team_value;
  } else {
    doc.AddMember("team", team_value, doc.GetAllocator());
  }
  out.value = to_json(doc);
  return out;
}

PublishLine from_batch_api_line(const rapidjson::Document& doc, const std::string& default_team) {
  const rapidjson::Value& custom_id = doc["custom_id"];
  if (!custom_id.IsString() || custom_id.GetStringLength() == 0) {
    return rejected("Batch API line: custom_id must be a non-empty string");
  }
  std::string url;
  if (auto it = doc.FindMember("url"); it != doc.MemberEnd()) {
    if (!it->value.IsString()) return rejected("Batch API line: url must be a string");
    url.assign(it->value.GetString(), it->value.GetStringLength());
    if (!ends_with(url, "/chat/completions")) {
      return rejected(
          "Batch API line: url " + url +
          " is not supported; only chat completion lines (/v1/chat/completions) can be published");
    }
  }
  auto body = doc.FindMember("body");
  if (body == doc.MemberEnd() || !body->value.IsObject()) {
    return rejected("Batch API line: body must be an object");
  }
  auto messages = body->value.FindMember("messages");
  if (messages == body->value.MemberEnd() || !messages->value.IsArray()) {
    return rejected("Batch API line: body.messages must be an array of chat messages");
  }
  if (default_team.empty()) {
    return rejected(
        "Batch API line has no team: pass --team TEAM (the team that pays for these requests)");
  }

  PublishLine out;
  out.kind = PublishLineKind::kBatchApiLine;
  out.request_id.assign(custom_id.GetString(), custom_id.GetStringLength());

  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  writer.StartObject();
  writer.Key("request_id");
  writer.String(out.request_id);
  writer.Key("team");
  writer.String(default_team);
  writer.Key("messages");
  messages->value.Accept(writer);
  writer.Key("model");
  if (auto model = body->value.FindMember("model");
      model != body->value.MemberEnd() && model->value.IsString()) {
    model->value.Accept(writer);
  } else {
    writer.String("auto");
  }
  for (const char* name : {"max_tokens", "max_completion_tokens"}) {
    auto it = body->value.FindMember(name);
    if (it != body->value.MemberEnd() && it->value.IsNumber()) {
      writer.Key("max_tokens");
      it->value.Accept(writer);
      break;
    }
  }
  if (auto it = body->value.FindMember("temperature");
      it != body->value.MemberEnd() && it->value.IsNumber()) {
    writer.Key("temperature");
    it->value.Accept(writer);
  }
  if (!url.empty()) {
    writer.Key("metadata");
    writer.StartObject();
    writer.Key("batch_url");
    writer.String(url);
    writer.EndObject();
  }
  writer.EndObject();
  out.value.assign(buffer.GetString(), buffer.GetSize());
  return out;
}

}  // namespace

PublishLine convert_publish_line(std::string_view line, const std::string& default_team) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (is_blank(line)) {
    PublishLine out;
    out.kind = PublishLineKind::kBlank;
    return out;
  }
  rapidjson::Document doc;
  doc.Parse<rapidjson::kParseIterativeFlag>(line.data(), line.size());
  if (doc.HasParseError()) {
    return rejected(std::string("not valid JSON: ") +
                    rapidjson::GetParseError_En(doc.GetParseError()) + " (at byte " +
                    std::to_string(doc.GetErrorOffset()) + ")");
  }
  if (!doc.IsObject()) return rejected("not a JSON object");
  if (doc.HasMember("request_id")) return from_request_event(line, doc, default_team);
  if (doc.HasMember("custom_id")) return from_batch_api_line(doc, default_team);
  return rejected(
      "neither a request.v1 event (no request_id) nor an OpenAI Batch API line (no custom_id)");
}

}  // namespace switchyard
