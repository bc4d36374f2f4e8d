#include "models/registry.h"

#include <vector>

#include "core/common.h"
#include "models/mamba/mamba.h"

// The built-in families. Adding one: its ModelFamily here.
static std::vector<const ModelFamily*>& families() {
    static std::vector<const ModelFamily*> list = {&mamba_family};
    return list;
}

const std::vector<const ModelFamily*>& registered_families() { return families(); }

const ModelFamily* family_by_name(const std::string& name) {
    for (const ModelFamily* f : families())
        if (name == f->name) return f;
    return nullptr;
}

const ModelFamily* family_by_id(Family id) {
    for (const ModelFamily* f : families())
        if (f->id == id) return f;
    return nullptr;
}

std::string family_names() {
    std::string s;
    for (const ModelFamily* f : families()) s += (s.empty() ? "" : ", ") + std::string(f->name);
    return s;
}

void register_family(const ModelFamily* f) {
    if (family_by_name(f->name) || family_by_id(f->id))
        fatal("internal: model family %s (id %u) is registered twice", f->name, (unsigned)f->id);
    families().push_back(f);
}

Model model_from_file(const WeightsFile& f, bool training) {
    const ModelFamily* fam = family_by_id(f.family);
    if (!fam) f.fail(strfmt("unknown model family %u (this build knows: %s)", (unsigned)f.family, family_names().c_str()));
    Model m = model_create(*fam, config_from_file(*fam, f), training);
    load_params(*m.ptable, m.params, f);
    return m;
}
