/* Placeholder until the agent lands. */
int main(void)
{
	return 1;
}
