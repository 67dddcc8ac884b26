// An empty compute shader: the dispatch-latency benchmark's kernel, run
// through aidev and through raw Vulkan alike.
#version 450
layout(local_size_x = 64) in;

void main()
{
}
