// Takes its input through a uniform buffer, which aidev never binds.
#version 450
layout(local_size_x = 64) in;
layout(std140, set = 0, binding = 0) uniform U { vec4 scale; } u;
layout(std430, set = 0, binding = 1) buffer Y { float y[]; };

void main()
{
    y[gl_GlobalInvocationID.x] *= u.scale.x;
}
