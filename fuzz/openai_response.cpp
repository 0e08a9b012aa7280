// The OpenAI / Azure chat.completion parser against any answer a server can send.
#include "provider_response.h"
#include "switchyard/provider/openai.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace switchyard;
  const HttpResponse response = fuzz::response_of(data, size);
  fuzz::check_outcome(parse_openai_response(response, fuzz::kSecret));
  return 0;
}
