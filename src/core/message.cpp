#include "core/message.hpp"

namespace natter {

const char* kind_name(MessageKind k) {
    switch (k) {
        case MessageKind::text: return "text";
        case MessageKind::image: return "image";
        case MessageKind::system: return "system";
    }
    return "text";
}

}  // namespace natter
