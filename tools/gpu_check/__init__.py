"""The GPU check (issue 18): one command that measures what "trains on NVIDIA GPUs" means.

    make gpu-check                       # on a machine with one CUDA GPU: under 8 minutes
    make gpu-check DRY=1                 # on a CPU: every code path at tiny sizes, CUDA parts reported skipped
    python -m tools.gpu_check [--dry] [--out DIR] [--sections a,b] [--budget-s S]

Sections (``SECTIONS`` below, one module each, run in that order):

1. ``tests``        the ``gpu``-marked tests of the suite;
2. ``correctness``  each paper's tiny nets trained a few iterations on CUDA equal the CPU run (fp32);
3. ``parallel``     two processes sharing one GPU (``--gpu 0,0``) equal one process with iter_size 2;
4. ``knn``          exact k-NN for mAP@50 at paper 000's evaluation size, next to faiss;
5. ``onnx``         onnxruntime's CUDA provider vs the engine's eager inference;
6. ``data``         LMDB of JPEG Datums → augmented batches on the device: the prefetch ring vs torch's
                    DataLoader, CPU vs GPU decode, and end-to-end training from the LMDB;
7. ``training``     training throughput, engine vs hand-written PyTorch, AlexNet / VGG-16 / ResNet-50
                    in fp32, bf16, bf16 + channels-last and bf16 + compile, with peak memory.

(``env`` runs first: versions, the GPU, the optional packages, and installs what is missing.)

Each section runs in its own process under a time cap that the whole check's budget shrinks when
time runs short; a section writes its results as it goes, so one that fails or hits its cap still
reports what it measured.  The check writes ``gpu_check.json`` (everything) and ``gpu_check.md``
(a readable summary) into ``--out`` and prints the summary last.
"""

SECTIONS = ["env", "tests", "correctness", "parallel", "knn", "onnx", "data", "training"]
