#include "chat/account_deletion.hpp"

namespace natter {

Result<Ok> AccountDeletion::delete_account(const Principal& who, const std::string& password) {
    if (auto ok = accounts_.confirm_password(who, password); !ok) return ok.error();
    // Groups first, while the user still exists: a failure here leaves an
    // account that can try again.
    if (groups_)
        if (auto left = groups_->leave_every_group(who); !left) return left.error();
    if (auto erased = accounts_.erase(who.user); !erased) return erased.error();
    // The blobs now rather than at the next sweep; what fails waits for it.
    if (media_) media_->empty_trash();
    return Ok{};
}

}  // namespace natter
