// weights.bin: round trip, every bad-file case a clean one-line error naming the file and the fault,
// and training checkpoints that resume bit for bit.
#include <doctest/doctest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <unistd.h>

#include "core/common.h"
#include "models/mamba/mamba.h"
#include "models/registry.h"
#include "train/trainer.h"

namespace fs = std::filesystem;

static ModelConfig tiny_config() {
    MambaConfig c;
    c.D = 16, c.L = 2, c.N = 4, c.K = 4, c.E = 32, c.R = 2, c.V = 40, c.match = 1;
    return model_config(c);
}

static std::string tmpdir() {
    fs::path d = fs::temp_directory_path() / ("engine_test_weights_" + std::to_string(getpid()));
    fs::create_directories(d);
    return d.string();
}

static std::string slurp(const std::string& p) { return read_file(p, "test"); }
static void spit(const std::string& p, const std::string& s) { std::ofstream(p, std::ios::binary) << s; }

// Loads `path` as a reranker the way ./rerank does; returns the error message ("" if none).
static std::string load_error(const std::string& path) {
    try {
        WeightsFile f = weights_load(path);
        model_from_file(f, false);
        return "";
    } catch (const WeightsError& e) {
        return e.what();
    }
}

static void expect_error(const std::string& what, const std::string& path, const std::string& phrase) {
    std::string msg = load_error(path);
    std::printf("  %-34s -> %s\n", what.c_str(), msg.c_str());
    CHECK_MESSAGE(msg.find(path) == 0, what);             // names the file
    CHECK_MESSAGE(msg.find(phrase) != std::string::npos, what << ": expected '" << phrase << "'");
    CHECK(msg.find('\n') == std::string::npos);            // one line
}

TEST_CASE("weights.bin: round trip of parameters, config, tokenizer and template") {
    std::string dir = tmpdir(), path = dir + "/model.bin";
    Model m = model_create(mamba_family, tiny_config(), false);
    model_init_random(m, 3);
    ModelExtras x{"{\"model\": {}}", "Document: {doc}\n\nQuery: {query}", 128, 0.25};
    save_model(path, m, x);
    WeightsFile f = weights_load(path);
    MambaConfig c = mamba_config_from(f);
    CHECK(c.D == 16);
    CHECK(c.match == 1);
    Model m2 = model_from_file(f, false);
    CHECK(m2.family == &mamba_family);
    CHECK(m2.cfg == m.cfg);
    CHECK(std::memcmp(m.params, m2.params, sizeof(float) * m.ptable->total) == 0);
    ModelExtras y = load_extras(f);
    CHECK(y.tokenizer_json == x.tokenizer_json);
    CHECK(y.input_template == x.input_template);
    CHECK(y.max_len == 128);
    CHECK(y.fuse_weight == 0.25);
    for (const WTensor& t : f.tensors) CHECK(t.offset % 64 == 0);
    std::printf("  round trip: %zu tensors, %zu bytes\n", f.tensors.size(), fs::file_size(path));
    fs::remove_all(dir);
}

TEST_CASE("weights.bin: bad files are clean one-line errors") {
    std::string dir = tmpdir(), good = dir + "/good.bin", bad = dir + "/bad.bin";
    Model m = model_create(mamba_family, tiny_config(), false);
    model_init_random(m, 3);
    save_model(good, m, {"{}", "t", 0, -1});
    const std::string bytes = slurp(good);
    REQUIRE(load_error(good).empty());

    expect_error("missing file", dir + "/nope.bin", "cannot open");
    expect_error("a directory", dir, "not a regular file");
    spit(bad, "");
    expect_error("empty file", bad, "truncated");
    for (size_t cut : {(size_t)20, (size_t)40, (size_t)300, bytes.size() / 2, bytes.size() - 1}) {
        spit(bad, bytes.substr(0, cut));
        expect_error("truncated at " + std::to_string(cut), bad, "truncated");
    }
    std::string s = bytes;
    s[0] = 'X';
    spit(bad, s);
    expect_error("wrong magic", bad, "bad magic");
    s = bytes;
    s[8] = 9;  // version 9
    spit(bad, s);
    expect_error("wrong version", bad, "format version 9");
    s = bytes;
    s[100] ^= 0x20;  // a byte inside the config / table
    spit(bad, s);
    expect_error("corrupted header byte", bad, "header checksum mismatch");
    s = bytes;
    s[weights_load(good).find("backbone.layers.1.mixer.A_log")->offset + 7] ^= 0x01;  // one data bit
    spit(bad, s);
    expect_error("corrupted data byte", bad, "checksum mismatch (corrupted data)");
    s = std::string(4096, '\0');
    spit(bad, s);
    expect_error("zeros", bad, "bad magic");

    // Well-formed files that do not describe this model.
    {
        WeightsWriter w;
        config_to(w, m.cfg);
        add_params(w, m);
        w.tensors[3].shape = {w.tensors[3].shape[0] / 2, 2 * w.tensors[3].shape[1]};  // same bytes, other shape
        w.write(bad);
        expect_error("shape mismatch", bad, "has shape");
    }
    {
        WeightsWriter w;
        config_to(w, m.cfg);
        add_params(w, m);
        w.tensors.erase(w.tensors.begin() + 5);
        w.write(bad);
        expect_error("missing tensor", bad, "is missing");
    }
    {
        WeightsWriter w;
        config_to(w, m.cfg);
        w.set("d_model", -3);
        w.write(bad);
        expect_error("config out of range", bad, "config d_model = -3");
    }
    {
        WeightsWriter w;
        config_to(w, m.cfg);
        w.config.erase(w.config.begin() + 1);
        w.write(bad);
        expect_error("config key missing", bad, "config key n_layer is missing");
    }
    {
        WeightsWriter w;
        config_to(w, m.cfg);
        w.family = (Family)77;
        w.write(bad);
        expect_error("unknown family", bad, "unknown model family 77");
    }
    fs::remove_all(dir);
}

// Synthetic groups drawn from the trainer's own RNG stream, standing in for the data loader.
static Batch synthetic_batch(TrainState& st, int V, int groups, int G) {
    Batch b;
    b.offsets = {0};
    for (int i = 0; i < groups * G; i++) {
        int len = 3 + (int)st.rng.below(12);
        for (int t = 0; t < len; t++) b.tokens.push_back((int32_t)st.rng.below(V)), b.match.push_back(st.rng.below(2));
        b.offsets.push_back(b.offsets.back() + len);
    }
    st.data_pos += groups;
    return b;
}

TEST_CASE("checkpoints: a resumed run reproduces an uninterrupted one bit for bit") {
    std::string dir = tmpdir(), ck = dir + "/ck.bin";
    const int G = 4, groups = 2, steps = 6;
    AdamWConfig oc;
    oc.lr = 3e-3f, oc.warmup = 2, oc.total_steps = steps;
    auto fresh = [&] {
        Model m = model_create(mamba_family, tiny_config(), true);
        model_init_random(m, 5);
        model_setup_acts(m, groups * G * 14, groups * G, 14);
        return m;
    };
    Model a = fresh();
    TrainState sa;
    sa.rng = Rng(77);
    std::vector<double> la;
    for (int i = 0; i < steps; i++) la.push_back(train_step(a, oc, sa, synthetic_batch(sa, 40, groups, G), G));

    Model b = fresh();
    TrainState sb;
    sb.rng = Rng(77);
    for (int i = 0; i < steps / 2; i++) train_step(b, oc, sb, synthetic_batch(sb, 40, groups, G), G);
    save_checkpoint(ck, b, {"{}", "t", 0, -1}, sb);

    Model c = model_create(mamba_family, tiny_config(), true);  // a new process, in effect: fresh buffers
    model_setup_acts(c, groups * G * 14, groups * G, 14);
    TrainState sc;
    WeightsFile f = weights_load(ck);
    load_checkpoint(f, c, sc);
    CHECK(sc.step == steps / 2);
    CHECK(sc.data_pos == sb.data_pos);
    std::vector<double> lc;
    for (int i = steps / 2; i < steps; i++) lc.push_back(train_step(c, oc, sc, synthetic_batch(sc, 40, groups, G), G));
    for (int i = 0; i < steps / 2; i++) {
        std::printf("  step %d: loss uninterrupted %.9f, resumed %.9f\n", steps / 2 + i, la[steps / 2 + i], lc[i]);
        CHECK(la[steps / 2 + i] == lc[i]);
    }
    CHECK(std::memcmp(a.params, c.params, sizeof(float) * a.ptable->total) == 0);
    CHECK(std::memcmp(a.opt_m, c.opt_m, sizeof(float) * a.ptable->total) == 0);
    CHECK(std::memcmp(a.opt_v, c.opt_v, sizeof(float) * a.ptable->total) == 0);
    CHECK(a.params[0] != b.params[0]);  // training did move the parameters
    fs::remove_all(dir);
}
