// Tests of src/common: atomic file writes.
#include <doctest/doctest.h>

#include <cstdio>
#include <filesystem>

#include "core/common.h"

TEST_CASE("AtomicFile: the target appears only on commit, the temporary is removed otherwise") {
    auto dir = std::filesystem::temp_directory_path() / "engine_test_common";
    std::filesystem::create_directories(dir);
    std::string path = (dir / "out.txt").string();
    std::remove(path.c_str());
    {
        AtomicFile f(path);
        f.write("abc", 3);
        CHECK(!std::filesystem::exists(path));
    }  // destroyed without commit
    CHECK(!std::filesystem::exists(path));
    CHECK(std::filesystem::is_empty(dir));
    {
        AtomicFile f(path);
        f.write("abc", 3);
        f.commit();
    }
    CHECK(read_file(path, "test") == "abc");
    std::filesystem::remove_all(dir);
}
