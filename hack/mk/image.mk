# OEPC OS images (issue 5): make image, make flash, make update, the QEMU
# boot test (make test) and the image benchmark (make bench).
#
#   make image                       build/oepc-amd64.img and build/oepc-arm64.img
#   make image-amd64 | image-arm64   one of them
#   make flash DEV=/dev/sdX [IMAGE=build/oepc-arm64.img]   writes the image file
#   make flash DEV=/dev/sdX FIT=1 [INSTANCE=oepc-arm64]     builds onto the disk;
#                                    /perm then spans the whole disk
#   make update BOX=host[:port] PASSWORD_FILE=FILE [INSTANCE=oepc-arm64]
#                                    (or PASSWORD=...; FILE holds the box's
#                                    gokrazy_password)
#
# No secret a box keeps is in an image or in build/: each box makes its own
# gokrazy password and API token at first boot and shows them once on its
# console (gokrazy_password=... api_token=...). An update needs that box's
# password. BOOTSTRAP, if set, is a comma-separated list of super node
# multiaddrs given to oepcd.

IMAGE_VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
IMAGE_DEPS := e2fsprogs
IMAGE_TEST_DEPS := e2fsprogs qemu-system-x86 socat ovmf zbar-tools
IMAGEBUILD = $(GO) run ./hack/imagebuild
INSTANCE ?= oepc-amd64
IMAGE ?= build/oepc-amd64.img
IMAGE_FLAGS := $(if $(BOOTSTRAP),-flag oepcd=--bootstrap=$(BOOTSTRAP))

.PHONY: image image-amd64 image-arm64 flash update test-image bench-image

image: image-amd64 image-arm64

image-amd64:
	@hack/install-deps.sh $(IMAGE_DEPS)
	$(IMAGEBUILD) build -instance oepc-amd64 -out build/oepc-amd64.img -version $(IMAGE_VERSION) $(IMAGE_FLAGS)

image-arm64:
	@hack/install-deps.sh $(IMAGE_DEPS)
	$(IMAGEBUILD) build -instance oepc-arm64 -out build/oepc-arm64.img -version $(IMAGE_VERSION) $(IMAGE_FLAGS)

flash:
	@test -n "$(DEV)" || { echo "usage: make flash DEV=/dev/sdX [IMAGE=$(IMAGE)] [FIT=1]" >&2; exit 2; }
	@hack/install-deps.sh $(IMAGE_DEPS)
	$(IMAGEBUILD) flash -dev $(DEV) $(if $(FIT),-fit -instance $(INSTANCE) -version $(IMAGE_VERSION) $(IMAGE_FLAGS),-image $(IMAGE))

# PASSWORD reaches imagebuild through the environment (make exports
# command-line variables), so the recipe line echoes no password.
update:
	@test -n "$(BOX)" || { echo "usage: make update BOX=host[:port] PASSWORD_FILE=FILE [INSTANCE=$(INSTANCE)]" >&2; exit 2; }
	@test -n "$(PASSWORD_FILE)$(PASSWORD)" || { echo "make update needs the box's gokrazy password: PASSWORD_FILE=FILE, FILE holding the gokrazy_password the box showed on its console at first boot (README, The image)" >&2; exit 2; }
	OEPC_BOX_PASSWORD="$$PASSWORD" $(IMAGEBUILD) update -instance $(INSTANCE) -box $(BOX) -version $(IMAGE_VERSION) $(IMAGE_FLAGS) $(if $(PASSWORD_FILE),-password-file $(PASSWORD_FILE))

# The boot test builds the amd64 image and boots it under QEMU (TCG); it is
# skipped by plain "go test ./hack/..." unless OEPC_IMAGE_TEST=1. Its UEFI
# boot has a virtual display and checks the status screen too (zbarimg
# decodes its QR code); make test-screen-image runs that check alone.
test-image:
	@hack/install-deps.sh $(IMAGE_TEST_DEPS)
	OEPC_IMAGE_TEST=1 $(GO) test -count=1 -timeout 24m -v -run 'TestBoot' ./hack/imagetest

bench-image:
	@hack/install-deps.sh $(IMAGE_TEST_DEPS)
	OEPC_IMAGE_BENCH=1 $(GO) test -count=1 -timeout 12m -v -run 'TestBench' ./hack/imagetest

TEST_TARGETS += test-image
BENCH_TARGETS += bench-image
