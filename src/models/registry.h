// The model families the engine knows, by name (./train --family) and by weights-file id. Adding a
// family: its src/models/<family>/ (config, parameter table, orchestration, CPU model, one ModelFamily)
// and one line in registry.cpp's list; its CUDA model, if any, registers in cuda/backend.cu.
#pragma once
#include <string>
#include <vector>

#include "core/model.h"

const ModelFamily* family_by_name(const std::string& name);  // nullptr when unknown
const ModelFamily* family_by_id(Family id);                   // nullptr when unknown
std::string family_names();                                  // "mamba, ..." for messages
const std::vector<const ModelFamily*>& registered_families();
// Adds a family at run time (the tests' second family); fatal() if its name or id is taken.
void register_family(const ModelFamily* f);

// The model a weights file holds: its family (by the file's family field), config and parameters, set
// up for training (gradients and zero AdamW moments) or not. Throws "<path>: ..." for a file of an
// unknown family or a bad config or tensor.
Model model_from_file(const WeightsFile& f, bool training);
