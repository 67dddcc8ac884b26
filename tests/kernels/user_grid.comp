// A user kernel that learns its grid from aidev: Vulkan runs whole
// workgroups, so items past the grid run too, and the push-constant member
// aidev_grid (a last member, uvec3 or uint[3]) holds the dispatch's grid.
// y[j * grid.x + i] = j * grid.x + i + 1 over a 2-D grid.
#version 450
layout(local_size_x = 64) in;
layout(std430, set = 0, binding = 0) writeonly buffer Y { uint y[]; };
layout(push_constant) uniform Args { uvec3 aidev_grid; } args;

void main()
{
    uvec3 id = gl_GlobalInvocationID;
    if (id.x >= args.aidev_grid.x || id.y >= args.aidev_grid.y)
        return;
    uint i = id.y * args.aidev_grid.x + id.x;
    y[i] = i + 1u;
}
