#pragma once
// The two classes of work. Its own header so that pure areas (event/, limit/) need not include
// the whole config to name a class.
namespace switchyard {

enum class PriorityClass { kInteractive, kBackground };
const char* to_string(PriorityClass c);

}  // namespace switchyard
